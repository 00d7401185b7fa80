"""CNN Studio's machine-learning core. Importable without Streamlit.

Modules:
    config    RunConfig, the one description of a run (form, CLI, saved run)
    data      dataset registry: uint8 tensors, class names, normalisation, sources
    models    model registry, custom layer stacks, torchinfo summaries
    augment   per-batch tensor augmentations
    optim     optimizer and LR-schedule builders, lr_preview, LR finder
    engine    train_one_epoch / evaluate / fit, emitting events
    runs      the on-disk run store (checkpoints/<run_id>/)
    trainer   one run end to end: data + model + engine + store (CLI and job runner)
    jobs      background job runner: a queue and one worker thread
    metrics   confusion matrices, per-class metrics, most-confused pairs
    datamap   Dataset Cartography: per-image confidence recorded in training, regions
    label_issues  cleanlab's label-issue finder on a run's out-of-sample predictions
    inspect   filters, feature maps, saliency / Grad-CAM
    preprocess  drawings and uploaded images -> model input
    presets   named configurations
    cli       `python -m core ...`
"""
