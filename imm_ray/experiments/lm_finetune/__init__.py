"""The paper's BERT experiment: fine-tuning a sequence classifier with the masked-LM loss
brought back (``finetune+mlm``) and with IMM on its masked positions
(``finetune+mlm+imm``), against plain fine-tuning; on GLUE TSV folders, or offline on a
PTB acceptability task with a small BERT pretrained on PTB. Page: docs/lm_finetune.md;
script: sweeps/lm_finetune.py."""
