namespace TrackMulti.Api.Batching;

/// <summary>
/// A batch whose content and key are final: the bytes are exactly the NDJSON object that will be stored, and the key
/// was decided once, at sealing, so every upload attempt writes the same object.
/// </summary>
public sealed record SealedBatch(string Key, long Sequence, int EventCount, byte[] Content, DateTimeOffset SealedAt);
