"""assay.recipes: rebuild derived artifacts from the manifest's ``recipes:`` through DVC, and judge them in tiers.

rebuild      plan, stage inputs (hash while copying), generate dvc.yaml, run it forced without the run cache, compare
stage        the command of every generated DVC stage (threads, seeds, environment record, the step or cmd)
steps        built-in deterministic steps: cast, reshard, merge-shards, lora-merge, quantize-int8,
             pickle-to-safetensors, tokenizer-build, train
tensors      safetensors checkpoints (file or index + shards), byte-stable writing
compare      bit-exact / tolerance / evaluation tiers
environment  what a step ran on (python, torch, threads, CPU capability, seeds, run id)
"""
