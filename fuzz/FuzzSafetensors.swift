// FuzzSafetensors: feeds arbitrary bytes to the safetensors decoder; what decodes must round-trip.

/// Never crashes; a decoded file re-encodes to bytes that decode to the same file.
func fuzzSafetensors(_ bytes: [UInt8]) {
    guard let file = try? SafetensorsFile.decode(bytes, source: "fuzz.safetensors") else { return }
    guard let again = try? SafetensorsFile.decode(try file.encoded(), source: "re-encoded") else {
        preconditionFailure("a decoded file did not re-encode to a decodable one")
    }
    precondition(again == file, "decode(encode(decode(bytes))) differs from decode(bytes)")
}
