console.log('parley background');
