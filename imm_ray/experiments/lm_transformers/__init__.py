"""The Hugging Face LM experiment (``sweeps/lm_transformers.py``, docs/lm_transformers.md):
a GPT-2-style model from scratch with a BPE tokenizer, none / noising / reverse_kd / imm
(sampled and in_batch), each trial an :class:`imm_ray.lm.hf.IMMTrainer` run, in the trial
process or data-parallel through Ray Train."""
