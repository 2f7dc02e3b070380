"""A training workdir on disk: its config, its Orbax checkpoints, and initialising from another.

  workdir/config.json                       the config the workdir belongs to (`workdir_binding`)
  workdir/.lock                             held by the run using the workdir (`workdir_lock`)
  workdir/checkpoints/<step>/{state,meta}   the TrainState pytree and a JSON record of step,
                                            epoch, the logging window and the flattened config
                                            (`checkpointer`)

`init_from` reads model variables from a converted PyTorch checkpoint or another workdir;
`orbax_noise` keeps Orbax's spurious tracebacks and warnings out of the log.
"""
