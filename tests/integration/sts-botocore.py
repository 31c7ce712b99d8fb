#!/usr/bin/env python3
"""Prints the STS endpoint botocore derives for each REGION FIPS DUALSTACK
MODE line on stdin ("-" for an error), one line each, in order.

Offline: a before-send hook records the URL of GetCallerIdentity and stops
the call there, so nothing is resolved or sent.  Exit 77 (skip) without
botocore."""
import os
import sys

try:
    import botocore.config
    import botocore.session
except ImportError:
    sys.exit(77)


class Stop(Exception):
    pass


def endpoint(region, fips, dualstack, mode):
    os.environ["AWS_STS_REGIONAL_ENDPOINTS"] = mode
    session = botocore.session.get_session()
    config = botocore.config.Config(use_fips_endpoint=fips, use_dualstack_endpoint=dualstack, retries={"max_attempts": 1})
    client = session.create_client("sts", region_name=region, config=config, aws_access_key_id="AKIDEXAMPLE",
                                   aws_secret_access_key="not-a-secret")
    seen = []

    def hook(request, **kwargs):
        seen.append(request.url)
        raise Stop()

    client.meta.events.register("before-send", hook)
    try:
        client.get_caller_identity()
    except Stop:
        return seen[0].rstrip("/")
    except Exception:  # botocore refuses the combination
        return "-"
    return "-"


for line in sys.stdin:
    region, fips, dualstack, mode = line.split()
    print(endpoint(region, fips == "1", dualstack == "1", mode), flush=True)
