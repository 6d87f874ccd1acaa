"""The running process: the console script (`cli`), worker sockets and CPU pinning, and the
instruments every layer reports to (`observability`, `metrics`).

Rule: only `cli` imports the rest of the service (it starts it); the other runtime modules
import nothing of the service but `settings` and each other, so any layer may use the
instruments without a cycle, and none but `cli` imports the process modules.
"""
