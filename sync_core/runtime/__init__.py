"""What every job shares, below the kinds and the pipeline: the job's context (settings, clients, state,
queues, clock, report), the queue messages and transports, the kind contract, how items are keyed and
stamped, and which errors are permanent. It imports no kind, no job and no entry point."""
