namespace TrackMulti.Api.Batching;

/// <summary>
/// A batch whose content and key are final: a spool file that is byte for byte the NDJSON object to store, under the
/// key chosen when the batch was opened, so every upload attempt writes the same object.
/// </summary>
public sealed record SealedBatch(string Key, long Sequence, int EventCount, long ByteCount, string Path);
