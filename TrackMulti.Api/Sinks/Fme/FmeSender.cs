using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Sinks.Fme;

/// <summary>
/// FME's posting rules, for whatever sends rows to FME (the live sink, a replay): rows of one stream in Split's shape
/// (<see cref="FmePost"/>), at most <see cref="MaxRowsPerPost"/> per post, each post one run of the <c>fme-post</c>
/// pipeline (retries, backoff, <c>Retry-After</c>, a timeout per attempt) with the configured key. A post FME refuses
/// as such (400, 413, 422) is logged and reported, not retried; a row without a key or of another shape is passed over.
/// </summary>
public sealed class FmeSender : IDisposable
{
    public const string PipelineName = "fme-post";
    public const int MaxRowsPerPost = 500;

    /// <summary>A post is sent early once its body would pass this (FME's SDKs flush at about 5 MB).</summary>
    private const int MaxBytesPerPost = 4 * 1024 * 1024;

    private readonly HttpClient _http;
    private readonly ResiliencePipeline _pipeline;
    private readonly string _key;
    private readonly TrackMetrics _metrics;
    private readonly ILogger<FmeSender> _logger;

    public FmeSender(ResiliencePipelineProvider<string> pipelines, IOptions<FmeOptions> options, TrackMetrics metrics, ILogger<FmeSender> logger)
    {
        // Its own client, not one from the factory: the Api's default HttpClients carry the standard resilience
        // handler, and the pipeline here already retries (and counts) every attempt.
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = new Uri(options.Value.EventsUrl.TrimEnd('/') + "/"),
            Timeout = Timeout.InfiniteTimeSpan, // the pipeline times each attempt
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("TrackMulti", "1.0"));
        _pipeline = pipelines.GetPipeline(PipelineName);
        _key = options.Value.Key!;
        _metrics = metrics;
        _logger = logger;
    }

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// Sends <paramref name="rows"/> (NDJSON lines of <paramref name="stream"/>) after the first <paramref name="skip"/>,
    /// post by post. After each post, and once at the end for rows no post carried, <paramref name="posted"/> hears what
    /// became of the rows so far; it returns false to stop. Throws when a post's round of attempts failed: nothing after
    /// the last report was delivered.
    /// </summary>
    /// <param name="source">Where the rows are kept (an S3 key), for logs and spans.</param>
    /// <param name="origins">The requests that brought the rows, linked from each post's span.</param>
    /// <param name="beforePost">Awaited before each post is sent (a replay waits there for live forwarding).</param>
    /// <param name="failuresCountFor">The sink whose <c>trackmulti.sink.failures</c> counts failed attempts (none for a replay).</param>
    public async Task SendAsync(
        string stream, IAsyncEnumerable<byte[]> rows, int skip, string source, IEnumerable<ActivityContext> origins,
        Func<FmeSent, bool> posted, Func<CancellationToken, Task>? beforePost, string? failuresCountFor, CancellationToken cancellationToken)
    {
        var post = FmePost.For(stream);
        var index = 0;
        var reported = skip;
        var withoutKey = 0;
        var unreadable = 0;
        await foreach (var line in rows.WithCancellation(cancellationToken))
        {
            if (index++ < skip)
            {
                continue;
            }
            try
            {
                if (!post.Add(line))
                {
                    withoutKey++; // FME needs a key per event; these are in S3 only
                }
            }
            catch (JsonException ex)
            {
                // The Api writes every row itself, so this came from elsewhere; it must not stop the sending.
                _logger.LogWarning(ex, "A row of {Key} is not a {Stream} row; it is not forwarded to FME", source, stream);
                unreadable++;
            }
            if (post.Count == MaxRowsPerPost || post.Bytes >= MaxBytesPerPost)
            {
                if (beforePost is not null)
                {
                    await beforePost(cancellationToken);
                }
                var refused = await PostAsync(post, source, origins, failuresCountFor, cancellationToken);
                if (!posted(new FmeSent(index, refused is null ? post.Count : 0, refused is null ? 0 : post.Count, withoutKey, unreadable, refused)))
                {
                    return;
                }
                reported = index;
                post.Clear();
                withoutKey = unreadable = 0;
            }
        }
        if (post.Count > 0)
        {
            if (beforePost is not null)
            {
                await beforePost(cancellationToken);
            }
            var refused = await PostAsync(post, source, origins, failuresCountFor, cancellationToken);
            posted(new FmeSent(index, refused is null ? post.Count : 0, refused is null ? 0 : post.Count, withoutKey, unreadable, refused));
        }
        else if (index > reported)
        {
            posted(new FmeSent(index, 0, 0, withoutKey, unreadable, null));
        }
    }

    /// <summary>One round of attempts at one post. Why FME refused its content (sending it again cannot change that), or null.</summary>
    private async Task<string?> PostAsync(FmePost post, string source, IEnumerable<ActivityContext> origins, string? failuresCountFor, CancellationToken cancellationToken)
    {
        var body = post.Body();
        var count = post.Count;
        using var span = TrackTracing.StartDelivery(TrackTracing.FmePostSpanName, origins);
        span?.SetTag("trackmulti.fme.events", count);
        span?.SetTag("trackmulti.fme.endpoint", post.Path);
        span?.SetTag("trackmulti.batch.key", source);
        try
        {
            await _pipeline.ExecuteAsync(async ct => await SendAsync(post, body, failuresCountFor, ct), cancellationToken);
            return null;
        }
        catch (Exception ex) when (FmeFaults.IsRejected(ex) && !cancellationToken.IsCancellationRequested)
        {
            span?.SetStatus(ActivityStatusCode.Error, FmeFaults.Reason(ex));
            _logger.LogError(ex, "FME refused {Events} rows of {Key}; they are not forwarded (they stay in S3 under that key)", count, source);
            return FmeFaults.Describe(ex);
        }
        catch (Exception ex)
        {
            span?.SetStatus(ActivityStatusCode.Error, FmeFaults.Reason(ex));
            throw;
        }
    }

    private async Task SendAsync(FmePost post, byte[] body, string? failuresCountFor, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, post.Path) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _key);
            post.AddHeaders(request);
            using var response = await _http.SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var detail = await response.Content.ReadAsStringAsync(cancellationToken);
                throw new FmeResponseException(response.StatusCode, response.Headers.RetryAfter?.Delta,
                    detail.Length > 200 ? detail[..200] : detail is { Length: > 0 } ? detail : response.ReasonPhrase ?? "");
            }
        }
        catch (Exception ex) when (failuresCountFor is not null && (!cancellationToken.IsCancellationRequested || ex is not OperationCanceledException))
        {
            _metrics.DeliveryFailed(failuresCountFor, FmeFaults.Reason(ex));
            throw;
        }
    }

    /// <summary>NDJSON lines, without their newlines.</summary>
    public static async IAsyncEnumerable<byte[]> ReadLinesAsync(Stream content, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var reader = PipeReader.Create(content);
        while (true)
        {
            var read = await reader.ReadAsync(cancellationToken);
            var buffer = read.Buffer;
            while (buffer.PositionOf((byte)'\n') is { } end)
            {
                yield return buffer.Slice(0, end).ToArray();
                buffer = buffer.Slice(buffer.GetPosition(1, end));
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (read.IsCompleted)
            {
                break;
            }
        }
        await reader.CompleteAsync();
    }
}

/// <summary>What became of the rows since the last report.</summary>
/// <param name="RowsThrough">Rows read so far, counted from the first (skipped ones too): where to go on from.</param>
/// <param name="Sent">Rows FME accepted.</param>
/// <param name="Refused">Rows of a post FME refused as such (400, 413, 422).</param>
/// <param name="WithoutKey">Events without a key, which FME cannot take.</param>
/// <param name="Unreadable">Lines that are no row of their stream.</param>
/// <param name="Refusal">Why FME refused the post, when it did.</param>
public readonly record struct FmeSent(int RowsThrough, int Sent, int Refused, int WithoutKey, int Unreadable, string? Refusal);
