# Package lists shared by setup.sh (installs) and wheels.sh (downloads for the GPU machine).
# Sourced, not run. Versions are pinned so that the CPU smoke run and the GPU run use the same
# peer code.

# Installed with --no-deps: the toolkit and the import-time dependencies the GPU machine lacks.
# OpenNMT-py pins torch<2.3 and drags in spacy/ctranslate2/flask; a plain install replaces torch.
ONMT_PKGS=(opennmt-py==3.5.1 configargparse==1.9.0 pyonmttok==1.38.1)
# joeynmt declares pytest, pylint, datasets, plotly... that training and testing never import;
# importlib-metadata is imported by joeynmt.helpers but not declared.
JOEY_PKGS=(joeynmt==2.3.0 subword-nmt==0.3.8 importlib-metadata==10.2.0 zipp==4.1.2
  lazy-importer==0.1.0)

# Present on the GPU machine (its image); installed here, with their dependencies, in online mode.
ONMT_BASE=(numpy pyyaml sentencepiece sacrebleu tensorboard six)
JOEY_BASE=(numpy pyyaml sentencepiece sacrebleu tensorboard tqdm matplotlib packaging)

# What the nmt package itself needs on the GPU machine and its image lacks (pyarrow, pandas,
# xxhash, fsspec, huggingface-hub are there): datasets and its two pinned helpers.
NMT_GPU_PKGS=(datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19)
