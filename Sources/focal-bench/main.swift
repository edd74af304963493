print("focal-bench")
