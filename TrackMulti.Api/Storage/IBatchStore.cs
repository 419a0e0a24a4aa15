using TrackMulti.Api.Batching;

namespace TrackMulti.Api.Storage;

/// <summary>Stores one sealed batch as one object under its key. Writing the same batch twice writes the same object.</summary>
public interface IBatchStore
{
    /// <summary>The bucket (or equivalent) the objects land in, for responses and status.</summary>
    string Location { get; }

    Task PutAsync(SealedBatch batch, CancellationToken cancellationToken);

    /// <summary>The newest stored batches (of the last day), newest first, with their event counts.</summary>
    Task<IReadOnlyList<StoredBatch>> ListRecentAsync(int limit, CancellationToken cancellationToken);
}

/// <param name="Events">Events in the object, from the metadata written with it (null if it was written otherwise).</param>
public sealed record StoredBatch(string Key, int? Events, long Bytes, DateTimeOffset? LastModified);
