namespace TrackMulti.Api.Batching;

/// <summary>
/// A batch whose content and key are final: a spool file that is byte for byte the NDJSON object to store, under the
/// key chosen when the batch was opened, so every upload attempt writes the same object.
/// </summary>
/// <param name="Origins">Trace contexts of (at most <see cref="MaxOrigins"/>) requests whose events the batch holds, so
/// its upload span can link back to them. Kept in memory only: a batch recovered from disk has none.</param>
public sealed record SealedBatch(string Key, long Sequence, int EventCount, long ByteCount, string Path)
{
    public const int MaxOrigins = 32;

    public IReadOnlyList<System.Diagnostics.ActivityContext> Origins { get; init; } = [];
}
