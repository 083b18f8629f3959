/**
 * The first RTCPeerConnection a page makes starts WebRTC in it (its threads): 3-25 ms of the
 * main thread on a 2-core machine, against ~1 ms for the next one; and its first gathering
 * has the browser list the network interfaces. Done ahead of the call, with a
 * throwaway connection that gathers host candidates (no ICE servers: nothing leaves the
 * machine, and the candidates go nowhere), both costs are out of the way of the call's own
 * connection, made when the server says `joined` while the offer is on its way. (The guest
 * page does it while its join card is read; the call window made ready for a ring, while it
 * rings.)
 */
export function warmUpWebRtc(): void {
  try {
    const pc = new RTCPeerConnection();
    pc.createDataChannel('warm-up');
    const done = (): void => pc.close();
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate) done();
    };
    pc.setLocalDescription().catch(done);
    setTimeout(done, 3000);
  } catch {
    // Nothing lost: the call's own connection will report what is wrong.
  }
}
