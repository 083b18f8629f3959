/**
 * Opened in a tab when the overlay iframe cannot ask for camera/microphone itself (an
 * extension frame inside a web page may not prompt). A top-level extension page can; the
 * grant then belongs to the extension for every site. Reports back and closes.
 */
import { tellBackground } from '../messaging/runtime.ts';

const params = new URLSearchParams(location.hash.slice(1));
const callId = params.get('call') ?? '';
const media = params.get('media') === 'audio' ? 'audio' : 'video';
const status = document.getElementById('status')!;
const button = document.getElementById('allow') as HTMLButtonElement;
if (media === 'audio') button.textContent = 'Allow microphone';

button.addEventListener('click', async () => {
  button.disabled = true;
  let granted = false;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: media === 'video' });
    for (const track of stream.getTracks()) track.stop();
    granted = true;
  } catch {
    status.textContent =
      'Chrome did not allow it. Click the camera icon in the address bar to allow it, then press the button again.';
    button.disabled = false;
  }
  if (/^[A-Za-z0-9_-]{22,64}$/.test(callId))
    await tellBackground({ type: 'permission-result', callId, granted });
  if (granted) {
    status.textContent = 'Thank you. Returning to your call…';
    window.close();
  }
});
