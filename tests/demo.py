"""`make demo`: the whole service, offline, on 127.0.0.1, and the alerts each receiver got.

Starts a news site serving a feed whose items link to article pages (the two reference
articles on Iran and al-Qaida plus two unrelated control articles), an SMTP server
(aiosmtpd) and a webhook receiver; runs `monitor run` on a configuration pointing at them
until the alerts are in; stops it with SIGTERM and prints what arrived.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from standardwebhooks import Webhook  # noqa: E402

from tests.support.newsroom import SAMPLES, WEBHOOK_SECRET, publish, write_config  # noqa: E402
from tests.support.receivers import SmtpServer, WebhookReceiver  # noqa: E402
from tests.support.site import NewsSite  # noqa: E402


def main() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="news-monitor-demo-") as tmp,
        NewsSite() as site,
        SmtpServer() as smtp,
        WebhookReceiver() as hook,
    ):
        stories = publish(site)
        alerts_file = Path(tmp) / "var" / "alerts.jsonl"
        config = write_config(
            Path(tmp) / "etc",
            feed_url=site.url + "/world.xml",
            smtp_port=smtp.port,
            webhook_url=hook.url,
            alerts_file=alerts_file,
        )
        print(f"news site   {site.url}/world.xml ({len(stories)} articles: 2 samples, 2 controls)")
        print(f"smtp        127.0.0.1:{smtp.port}")
        print(f"webhook     {hook.url}")
        print(f"config      {config}\n")
        env = dict(os.environ, NEWSROOM_SECRET=WEBHOOK_SECRET, MONITOR_DB=f"{tmp}/var/monitor.db")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config-dir", str(config)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and daemon.poll() is None:
            if len(smtp.messages) >= len(SAMPLES) and len(hook.requests) >= len(SAMPLES):
                break
            time.sleep(0.2)
        time.sleep(0.5)
        daemon.send_signal(signal.SIGTERM)
        log, _ = daemon.communicate(timeout=60)

        print("---- service log " + "-" * 50)
        print(log.rstrip())
        print(f"\n---- email: {len(smtp.messages)} message(s) " + "-" * 40)
        for m in smtp.messages:
            body = m.message.get_body(("plain",))
            print(f"To: {', '.join(m.recipients)}\nSubject: {m.message['subject']}")
            print(textwrap.indent(body.get_content().strip() if body else "", "  | "))
            print()
        print(f"---- webhook: {len(hook.requests)} request(s) " + "-" * 38)
        verifier = Webhook(WEBHOOK_SECRET)
        for r in hook.requests:
            payload = verifier.verify(r.body, r.headers)
            article = payload["article"]
            print(f"webhook-id {r.headers['webhook-id']}  (signature verified)")
            print(f"  {article['title']}\n  {article['url']}  source: {article['source']}")
            for rule in payload["rules"]:
                print(f"  rule {rule['name']}: terms {', '.join(rule['terms'])}")
            print(f"  {len(r.body)} bytes of JSON: article, rules, snippets with match offsets\n")
        lines = alerts_file.read_text().splitlines() if alerts_file.exists() else []
        print(f"\n---- file channel: {len(lines)} alert(s) in {alerts_file.name} " + "-" * 24)
        for line in lines:
            alert = json.loads(line)
            rules = ", ".join(r["name"] for r in alert["rules"])
            print(f"{rules:15s} {alert['article']['title']}")
        ok = len(smtp.messages) == len(SAMPLES) == len(hook.requests)
        verdict = "OK: both sample articles alerted, controls did not" if ok else "FAILED"
        print(f"\ndemo {verdict}")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
