using TrackMulti.Api.Batching;

namespace TrackMulti.Api.Storage;

/// <summary>Stores one sealed batch as one object under its key. Writing the same batch twice writes the same object.</summary>
public interface IBatchStore
{
    /// <summary>The bucket (or equivalent) the objects land in, for responses and status.</summary>
    string Location { get; }

    Task PutAsync(SealedBatch batch, CancellationToken cancellationToken);
}
