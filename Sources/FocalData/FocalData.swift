// FocalData: data generators, the split, the chunk plan and file formats.
