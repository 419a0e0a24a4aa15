using TrackMulti.Api.Pipeline;

namespace TrackMulti.Api.Sinks.S3;

/// <summary>Stores one batch as one object under its key. Writing the same batch twice writes the same object.</summary>
public interface IObjectStore
{
    /// <summary>The bucket (or equivalent) the objects land in, for responses and status.</summary>
    string Location { get; }

    /// <param name="stream">The stream the batch's rows came from, kept with the object (two streams share <c>events/</c>).</param>
    /// <param name="events">How many events (lines) the object holds, kept with it so listings need not read it.</param>
    Task PutAsync(string key, string stream, Stream content, int events, CancellationToken cancellationToken);

    /// <summary>The newest stored batches (of the last day), newest first, with their event counts.</summary>
    Task<IReadOnlyList<StoredObject>> ListRecentAsync(int limit, CancellationToken cancellationToken);

    /// <summary>Every key under <paramref name="prefix"/> that sorts after <paramref name="startAfter"/>, in key order, page by page.</summary>
    IAsyncEnumerable<string> ListKeysAsync(string prefix, string startAfter, CancellationToken cancellationToken);

    /// <summary>The object under <paramref name="key"/> as it is stored, or null when there is none.</summary>
    Task<StoredContent?> ReadAsync(string key, CancellationToken cancellationToken);
}

/// <param name="Content">The stored bytes (gzip and Parquet as stored), read in full.</param>
/// <param name="Stream">The stream named in the object's metadata, or null when it was written without one.</param>
public sealed record StoredContent(byte[] Content, string? Stream);
