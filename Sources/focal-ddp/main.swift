print("focal-ddp")
