// A WebSocket client that holds one connection open across a ztunnel upgrade, run inside a
// pod of the embedded cluster against test/waypoint/ws-echo.ts serve:
//   node ws-hold.ts ws://host:port/
// sends a numbered text message every 100 ms and prints "echo <n>" for each one that comes
// back intact and in order. On SIGTERM it closes with 1000 and prints one JSON line
// {sent, echoed, intact}; if the connection closes or fails before that it prints
// "closed <code> <reason>" and exits 1.
import { WebSocket } from 'ws';

const url = process.argv[2];
if (url === undefined) {
  process.stderr.write('usage: ws-hold.ts ws://host:port/\n');
  process.exit(2);
}
const ws = new WebSocket(url);
let sent = 0;
let echoed = 0;
let intact = true;
let hello = false;
let closing = false;
let timer: NodeJS.Timeout | undefined;

ws.on('open', () => {
  timer = setInterval(() => ws.send(`m${++sent}`), 100);
});
ws.on('message', (data) => {
  const text = (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString();
  if (!hello) {
    hello = true; // the server's greeting
    return;
  }
  echoed++;
  if (text !== `m${echoed}`) intact = false;
  process.stdout.write(`echo ${echoed}\n`);
});
ws.on('error', (err) => process.stderr.write(`error ${err.message}\n`));
ws.on('close', (code, reason) => {
  clearInterval(timer);
  if (closing) {
    process.stdout.write(`${JSON.stringify({ sent, echoed, intact })}\n`);
    process.exit(0);
  }
  process.stdout.write(`closed ${code} ${reason.toString()}\n`);
  process.exit(1);
});
process.once('SIGTERM', () => {
  closing = true;
  clearInterval(timer);
  ws.close(1000);
});
