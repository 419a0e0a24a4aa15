using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;
using TrackMulti.Api.Pipeline;

namespace TrackMulti.Api.Sinks.S3;

public sealed class S3ObjectStore(IAmazonS3 s3, IOptions<S3Options> options, IOptions<ObjectLayout> layout, TimeProvider time) : IObjectStore
{
    public const string NdjsonContentType = "application/x-ndjson";

    /// <summary>User metadata on every object: how many events (lines) it holds, so listings need not read objects.</summary>
    public const string EventCountMetadata = "events";

    /// <summary>User metadata on every object: the stream its rows came from (<c>events/</c> holds two).</summary>
    public const string StreamMetadata = "stream";

    private readonly S3Options _options = options.Value;

    public string Location => _options.BucketName;

    public async Task PutAsync(string key, string stream, Stream content, int events, CancellationToken cancellationToken)
    {
        var request = new PutObjectRequest
        {
            BucketName = _options.BucketName,
            Key = key,
            InputStream = content,
            ContentType = ObjectLayout.IsParquet(key) ? ObjectLayout.ParquetContentType : NdjsonContentType,
            // Emulators such as s3rver store aws-chunked framing as object data and still answer 200;
            // real S3 and LocalStack accept either, so plain bodies are used for every custom endpoint.
            UseChunkEncoding = !_options.UsesCustomEndpoint,
        };
        if (ObjectLayout.IsGzip(key))
        {
            request.Headers.ContentEncoding = "gzip"; // still NDJSON; clients that honour the encoding read it as such
        }
        request.Metadata.Add(EventCountMetadata, events.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Metadata.Add(StreamMetadata, stream);
        await s3.PutObjectAsync(request, cancellationToken);
    }

    public async IAsyncEnumerable<string> ListKeysAsync(
        string prefix, string startAfter, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = _options.BucketName, Prefix = prefix, StartAfter = startAfter };
        ListObjectsV2Response page;
        do
        {
            page = await s3.ListObjectsV2Async(request, cancellationToken);
            foreach (var entry in page.S3Objects ?? [])
            {
                yield return entry.Key;
            }
            request.ContinuationToken = page.NextContinuationToken;
        }
        while (page.IsTruncated == true);
    }

    public async Task<StoredContent?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await s3.GetObjectAsync(_options.BucketName, key, cancellationToken);
            using var content = new MemoryStream();
            await response.ResponseStream.CopyToAsync(content, cancellationToken);
            return new StoredContent(content.ToArray(), response.Metadata[StreamMetadata] is { Length: > 0 } stream ? stream : null);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound && ex.ErrorCode == "NoSuchKey")
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<StoredObject>> ListRecentAsync(int limit, CancellationToken cancellationToken)
    {
        // Keys begin with their UTC time (within their partition), so starting after "a day ago" lists only recent
        // objects; with partitions, only the last two days' are listed.
        var now = time.GetUtcNow();
        var recent = new List<S3Object>();
        foreach (var (prefix, startAfter) in RecentPrefixes(now))
        {
            var request = new ListObjectsV2Request { BucketName = _options.BucketName, Prefix = prefix, StartAfter = startAfter };
            ListObjectsV2Response page;
            do
            {
                page = await s3.ListObjectsV2Async(request, cancellationToken);
                recent.AddRange(page.S3Objects ?? []);
                request.ContinuationToken = page.NextContinuationToken;
            }
            while (page.IsTruncated == true);
        }

        var newest = recent.OrderByDescending(o => o.LastModified).ThenByDescending(o => o.Key, StringComparer.Ordinal).Take(limit);
        return await Task.WhenAll(newest.Select(async entry =>
        {
            var head = await s3.GetObjectMetadataAsync(_options.BucketName, entry.Key, cancellationToken);
            int? events = int.TryParse(head.Metadata[EventCountMetadata], out var count) ? count : null;
            return new StoredObject(entry.Key, events, entry.Size ?? 0, entry.LastModified is { } modified ? new DateTimeOffset(modified) : null);
        }));
    }

    private IEnumerable<(string Prefix, string? StartAfter)> RecentPrefixes(DateTimeOffset now)
    {
        if (layout.Value.Partitioning == Partitioning.None)
        {
            yield return (BatchKey.Prefix, BatchKey.EarliestAt(now.AddDays(-1)));
            yield break;
        }
        var daily = new ObjectLayout { Partitioning = Partitioning.Daily };
        foreach (var day in new[] { now.AddDays(-1), now })
        {
            yield return (BatchKey.Prefix + daily.PartitionOf(day), null);
        }
    }
}
