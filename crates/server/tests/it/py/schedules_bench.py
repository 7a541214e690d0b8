"""A measurement, not a test: how many rule ticks per second the ticker keeps up with.

Start a server with `versa server --ephemeral --listen 127.0.0.1:45992 --schedule-seconds`, then
run `python3 schedules_bench.py http://127.0.0.1:45992 300`: N rules with rate(1 minute) (a
tick every second under --schedule-seconds), each with a target whose function has no
permission for it (so every tick is a permission check and a due-time write, no invocation),
tick for 30 s; the sum of their AWS/Events TriggeredRules is compared with N ticks a second.
"""
import io
import sys
import time
import zipfile

import boto3

endpoint, N = sys.argv[1], int(sys.argv[2])
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
ev, cw, lam = boto3.client("events", **kw), boto3.client("cloudwatch", **kw), boto3.client("lambda", **kw)
b = io.BytesIO()
with zipfile.ZipFile(b, "w") as z:
    z.writestr("index.py", "def handler(e, c):\n    return 1\n")
lam.create_function(FunctionName="f", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                    Handler="index.handler", Code={"ZipFile": b.getvalue()})
t0 = time.time()
for i in range(N):
    ev.put_rule(Name=f"r{i:03d}", ScheduleExpression="rate(1 minute)")
    ev.put_targets(Rule=f"r{i:03d}", Targets=[{"Id": "t", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f"}])
created = time.time()
time.sleep(30)
end = time.time()
total = 0
for i in range(N):
    points = cw.get_metric_statistics(
        Namespace="AWS/Events", MetricName="TriggeredRules", Statistics=["Sum"], Period=60,
        Dimensions=[{"Name": "RuleName", "Value": f"r{i:03d}"}], StartTime=t0 - 120, EndTime=end + 60)["Datapoints"]
    total += sum(p["Sum"] for p in points)
print(f"{N} rules created in {created - t0:.1f} s; {total:.0f} ticks in {end - t0:.0f} s "
      f"(at most {N * (end - t0):.0f}): {total / (end - created):.0f} ticks/s")
