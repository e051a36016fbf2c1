# The documented Python example: signs json.dumps(body, separators=(',', ':')) but sends the
# body the way `requests.post(json=body)` does, i.e. json.dumps(body) with its default
# separators (", ", ": ") and ensure_ascii. `requests` itself is used when installed; the
# standard library reproduces its exact bytes otherwise.
import hmac, hashlib, json, os, time, urllib.request

SECRET_KEY = os.environ['SECRET_KEY']
body = {
    'associationId': int(os.environ['ASSOCIATION_ID']),
    'recipient': os.environ['RECIPIENT'],
    'message': os.environ['MESSAGE'],
}
timestamp = str(int(time.time() * 1000))
json_body = json.dumps(body, separators=(',', ':'))
payload = timestamp + '.' + json_body
signature = hmac.new(SECRET_KEY.encode(), payload.encode(), hashlib.sha256).hexdigest()
url = 'http://127.0.0.1:%s/api/v1/webhook/notification' % os.environ['PORT']
headers = {'X-Webhook-Timestamp': timestamp, 'X-Webhook-Signature': signature}
try:
    import requests
    r = requests.post(url, json=body, headers=headers)
    print(json.dumps({'status': r.status_code, 'body': r.json(), 'client': 'requests'}))
except ImportError:
    data = json.dumps(body).encode('utf-8')  # what requests(json=body) sends
    req = urllib.request.Request(url, data=data, headers=dict(headers, **{'Content-Type': 'application/json'}), method='POST')
    try:
        with urllib.request.urlopen(req) as resp:
            print(json.dumps({'status': resp.status, 'body': json.loads(resp.read()), 'client': 'urllib'}))
    except urllib.error.HTTPError as e:
        print(json.dumps({'status': e.code, 'body': json.loads(e.read()), 'client': 'urllib'}))
