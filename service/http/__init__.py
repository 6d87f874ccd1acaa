"""HTTP plumbing: where a request enters, is checked against `openapi.yaml` and is answered.

Rule: it calls the use cases in `service.flows` and never holds money logic itself; of
`service.runtime` it uses only the instruments (`observability`, `metrics`), never the process
that serves it (`cli`, `worker_sockets`, `cpu_affinity`).
"""
