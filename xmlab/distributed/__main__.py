"""``torchrun --nproc_per_node=N -m xmlab.distributed [options]``: one training run."""

import os
import sys

from xmlab.distributed.launch import main

main()
# The run is over and rank 0 has written its results. Leave without the interpreter's
# teardown: a process group that DistributedDataParallel used outlives destroy_process_group,
# and gloo's threads freed during teardown can abort the process ("terminate called without
# an active exception") after the work is done.
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
