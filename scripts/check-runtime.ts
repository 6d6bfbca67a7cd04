// Refuses to run weft on anything but the pinned Node.js 24 line.
const major = Number(process.versions.node.split('.')[0]);
if (major !== 24) {
  console.error(`weft: needs Node.js 24 (pinned in devDependencies), running ${process.versions.node}; run through npm scripts`);
  process.exit(1);
}
