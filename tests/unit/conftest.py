"""Unit tier: pure logic, no processes. Its tests never see the machine's kubeconfig (a lab left up there)."""
from tests.harness.kubeconfig import _kubeconfig_in_a_temp_file  # noqa: F401  (autouse)
