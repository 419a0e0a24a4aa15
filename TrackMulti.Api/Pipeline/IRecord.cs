namespace TrackMulti.Api.Pipeline;

/// <summary>
/// The record (the S3 sink): every batch of every stream lands there. A flush waits for it; a producer refused for a
/// full spool comes back after its next round (<see cref="IBackPressure"/>).
/// </summary>
public interface IRecord : IDeliveryStatus
{
    /// <summary>Where the objects land (the bucket), as answers name it.</summary>
    string Location { get; }

    /// <summary>
    /// Waits, at most <c>FLUSH_TIMEOUT_SECONDS</c>, until every batch sealed so far is stored; or says why not (a round
    /// failed, or the time ran out: the batches stay and are retried).
    /// </summary>
    Task<RecordConfirmation> ConfirmAsync(CancellationToken cancellationToken);
}

/// <param name="Confirmed">Every batch sealed before the call is stored.</param>
/// <param name="StillQueued">Batches not yet stored (when not confirmed), oldest first.</param>
/// <param name="Error">Why not.</param>
public sealed record RecordConfirmation(bool Confirmed, IReadOnlyList<SealedBatch> StillQueued, string? Error)
{
    public static readonly RecordConfirmation Done = new(true, [], null);
}

/// <summary>When a producer refused because the spool is full should send again.</summary>
public interface IBackPressure
{
    /// <summary>After the record's next round: its pause after the failures so far.</summary>
    TimeSpan RetryAfterFull();
}

/// <summary>What the record holds, for operators: its newest objects and the Athena tables over them.</summary>
public interface IRecordCatalog
{
    string Location { get; }

    /// <summary>The newest objects (of the last day), newest first; or why the store did not answer.</summary>
    Task<ObjectListing> ListRecentAsync(int limit, CancellationToken cancellationToken);

    /// <summary><c>CREATE TABLE</c> statements for Athena over this bucket and layout.</summary>
    string AthenaDdl();
}

/// <param name="Objects">The objects found, or null when the store did not answer.</param>
/// <param name="Unavailable">Why the store did not answer.</param>
public sealed record ObjectListing(IReadOnlyList<StoredObject>? Objects, string? Unavailable);

/// <param name="Events">Events in the object, from the metadata written with it (null if it was written otherwise).</param>
public sealed record StoredObject(string Key, int? Events, long Bytes, DateTimeOffset? LastModified);
