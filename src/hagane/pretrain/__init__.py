"""pretrain: a Llama-style decoder trained with torch.distributed (DDP), checkpointed with DCP."""
