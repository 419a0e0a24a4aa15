namespace TrackMulti.Api.Sinks.S3;

/// <summary>Stores one batch as one object under its key. Writing the same batch twice writes the same object.</summary>
public interface IObjectStore
{
    /// <summary>The bucket (or equivalent) the objects land in, for responses and status.</summary>
    string Location { get; }

    /// <param name="events">How many events (lines) the object holds, kept with it so listings need not read it.</param>
    Task PutAsync(string key, Stream content, int events, CancellationToken cancellationToken);

    /// <summary>The newest stored batches (of the last day), newest first, with their event counts.</summary>
    Task<IReadOnlyList<StoredObject>> ListRecentAsync(int limit, CancellationToken cancellationToken);
}

/// <param name="Events">Events in the object, from the metadata written with it (null if it was written otherwise).</param>
public sealed record StoredObject(string Key, int? Events, long Bytes, DateTimeOffset? LastModified);
