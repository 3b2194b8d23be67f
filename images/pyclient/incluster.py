#!/opt/venv/bin/python
"""`incluster [NAMESPACE]`: list the pods of a namespace (default: the pod's own) with the official client's
in-cluster configuration, and say what happened in one line: `OK <n> pods`, or `Forbidden <status>
<message>` / `ERROR <what>` (exit 1). The lab's e2e tests run it in a pod with `kubelab exec`."""
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException


def main() -> int:
    config.load_incluster_config()
    namespace = sys.argv[1] if len(sys.argv) > 1 else open(
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace").read().strip()
    try:
        pods = client.CoreV1Api().list_namespaced_pod(namespace)
    except ApiException as e:
        print(f"{e.reason} {e.status} {e.body}")
        return 1
    except Exception as e:  # noqa: BLE001 - the test wants to read what went wrong
        print(f"ERROR {type(e).__name__}: {e}")
        return 1
    print(f"OK {len(pods.items)} pods: {' '.join(sorted(p.metadata.name for p in pods.items))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
