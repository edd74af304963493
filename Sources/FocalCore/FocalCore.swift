// FocalCore: model, focal loss, reduction, optimizer and trainer.
