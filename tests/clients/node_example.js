// The documented Node.js example, unchanged except for the target (http on loopback) and
// inputs from the environment. It signs JSON.stringify(body) and sends the same string.
const crypto = require('crypto');
const http = require('http');
const SECRET_KEY = process.env.SECRET_KEY;
const body = {
  associationId: Number(process.env.ASSOCIATION_ID),
  recipient: process.env.RECIPIENT,
  message: process.env.MESSAGE
};
const timestamp = Date.now().toString();
const payload = timestamp + '.' + JSON.stringify(body);
const signature = crypto.createHmac('sha256', SECRET_KEY).update(payload).digest('hex');
const data = JSON.stringify(body);
const options = {
  hostname: '127.0.0.1',
  port: Number(process.env.PORT),
  path: '/api/v1/webhook/notification',
  method: 'POST',
  headers: {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(data),
    'X-Webhook-Timestamp': timestamp,
    'X-Webhook-Signature': signature
  }
};
const req = http.request(options, (res) => {
  let body = '';
  res.on('data', (chunk) => body += chunk);
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body: JSON.parse(body) })));
});
req.write(data);
req.end();
