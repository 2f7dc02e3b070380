"""A training workdir on disk: its config, its Orbax checkpoints, and initialising from another.

  workdir/config.json                       the config the workdir belongs to (`workdir_binding`)
  workdir/.lock                             held by the run using the workdir (`workdir_lock`)
  workdir/checkpoints/<step>/{state,layout,meta,checksums}
                                            the TrainState, packed one array per dtype with a
                                            layout of its leaves (`packed_state`), a JSON record
                                            of step, epoch, the logging window and the flattened
                                            config (`checkpointer`), and the SHA-256 of every
                                            array (`checksums`)
  workdir/corrupt_checkpoints/<step>        damaged checkpoints set aside when falling back

`init_from` reads model variables from a converted PyTorch checkpoint or another workdir;
`orbax_noise` keeps Orbax's spurious tracebacks and warnings out of the log.
"""
