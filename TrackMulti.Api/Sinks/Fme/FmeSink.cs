using System.Buffers;
using System.IO.Pipelines;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;
using TrackMulti.Api.Model;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Sinks.Fme;

/// <summary>
/// Forwards the streams <c>FME_FORWARD</c> names to FME's events API, in Split's shapes (<see cref="FmePost"/>):
/// events to <c>/events/bulk</c>, impressions to <c>/testImpressions/bulk</c>, counts to <c>/testImpressions/count</c>,
/// at most <see cref="MaxEventsPerPost"/> rows per post, with the server's key. Progress is acknowledged after every post,
/// so a crash sends again at most the post that was in flight: delivery to FME is at-least-once (its API has no
/// idempotency key). FME being down never holds back S3: its backlog waits in the spool up to
/// <c>FME_MAX_BACKLOG_BYTES</c>, past which the oldest is dropped for FME alone and logged with the S3 keys that hold it.
/// </summary>
public sealed class FmeSink : Sink
{
    public const string SinkName = "fme";
    public const string PipelineName = "fme-post";
    public const int MaxEventsPerPost = 500;

    /// <summary>A post is sent early once its body would pass this (FME's SDKs flush at about 5 MB).</summary>
    private const int MaxBytesPerPost = 4 * 1024 * 1024;

    private readonly HttpClient _http;
    private readonly ResiliencePipeline _pipeline;
    private readonly string _key;
    private readonly long _maxBacklogBytes;
    private readonly TrackMetrics _metrics;
    private readonly ILogger<FmeSink> _logger;

    public FmeSink(
        SpoolLog spool, ResiliencePipelineProvider<string> pipelines, IOptions<FmeOptions> options,
        TrackMetrics metrics, TimeProvider time, ILogger<FmeSink> logger)
        : base(spool, SinkName, options.Value.Takes, options.Value.MaxBacklogBytes, options.Value.PauseAfter, metrics, time, logger)
    {
        // Its own client, not one from the factory: the Api's default HttpClients carry the standard resilience
        // handler, and this sink's pipeline already retries (and counts) every attempt.
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = new Uri(options.Value.EventsUrl.TrimEnd('/') + "/"),
            Timeout = Timeout.InfiniteTimeSpan, // the pipeline times each attempt
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("TrackMulti", "1.0"));
        _pipeline = pipelines.GetPipeline(PipelineName);
        _key = options.Value.Key!;
        _maxBacklogBytes = options.Value.MaxBacklogBytes;
        _metrics = metrics;
        _logger = logger;
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    /// <summary>FME being down must not make shutdown wait: what is left is sent after the next start.</summary>
    protected override bool RetriesOnStop => false;

    protected override async Task DeliverAsync(SealedSegment segment, CancellationToken cancellationToken)
    {
        var done = Cursor.EventsDone(segment);
        var post = FmePost.For(segment.Stream);
        var index = 0;
        var withoutKey = 0;
        await using var content = Cursor.OpenRead(segment);
        await foreach (var line in ReadLinesAsync(content, cancellationToken))
        {
            if (index++ < done)
            {
                continue;
            }
            if (Add(post, line, segment) == Row.WithoutKey)
            {
                withoutKey++;
            }
            if (post.Count == MaxEventsPerPost || post.Bytes >= MaxBytesPerPost)
            {
                if (!await PostAsync(segment, post, index, cancellationToken))
                {
                    return; // dropped for FME while it was being sent
                }
                post.Clear();
            }
        }
        if (post.Count > 0)
        {
            await PostAsync(segment, post, index, cancellationToken);
        }
        if (withoutKey > 0)
        {
            // FME needs a key per event; these are in S3 only.
            Dropped(withoutKey, "no_key", $"{withoutKey} events of {segment.Key} have no key (in S3)");
        }
    }

    protected override SinkFailure Describe(Exception exception) =>
        new(FmeFaults.Reason(exception), FmeFaults.Describe(exception), FmeFaults.IsTransient(exception));

    /// <summary>One round of attempts at one post; then its events count as done. False when the segment was dropped meanwhile.</summary>
    private async Task<bool> PostAsync(SealedSegment segment, FmePost post, int eventsDoneAfter, CancellationToken cancellationToken)
    {
        var body = post.Body();
        var count = post.Count;
        using (var span = TrackTracing.StartDelivery(TrackTracing.FmePostSpanName, segment.Origins))
        {
            span?.SetTag("trackmulti.fme.events", count);
            span?.SetTag("trackmulti.fme.endpoint", post.Path);
            span?.SetTag("trackmulti.batch.key", segment.Key);
            try
            {
                await _pipeline.ExecuteAsync(async ct => await SendAsync(post, body, ct), cancellationToken);
            }
            catch (Exception ex) when (FmeFaults.IsRejected(ex) && !cancellationToken.IsCancellationRequested)
            {
                // Sending the same events again cannot succeed: report it loudly and go on (they stay in S3).
                span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, FmeFaults.Reason(ex));
                _logger.LogError(ex, "FME refused {Events} rows of {Key}; they are not forwarded (they stay in S3 under that key)",
                    count, segment.Key);
                Dropped(count, "rejected", $"{FmeFaults.Describe(ex)} for {count} rows of {segment.Key} (in S3)");
                return Cursor.Acknowledge(segment, eventsDoneAfter);
            }
            catch (Exception ex)
            {
                span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, FmeFaults.Reason(ex));
                throw;
            }
        }
        _metrics.Delivered(SinkName, count);
        return Cursor.Acknowledge(segment, eventsDoneAfter);
    }

    private async Task SendAsync(FmePost post, byte[] body, CancellationToken cancellationToken)
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
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested || ex is not OperationCanceledException)
        {
            _metrics.DeliveryFailed(SinkName, FmeFaults.Reason(ex));
            throw;
        }
    }

    protected override void OnBacklogDropped(SpoolDrop drop)
    {
        _logger.LogError(
            "The FME backlog passed FME_MAX_BACKLOG_BYTES ({Max} bytes): {Events} events of {Key} are not forwarded to FME (they are in S3 under that key)",
            _maxBacklogBytes, drop.Events, drop.Segment.Key);
        Dropped(drop.Events, "backlog_full", $"{drop.Events} events of {drop.Segment.Key} (in S3)");
    }

    private enum Row { Added, WithoutKey, Unreadable }

    /// <summary>Adds the row to the post; one that is no row of its stream at all is passed over, loudly.</summary>
    private Row Add(FmePost post, byte[] line, SealedSegment segment)
    {
        try
        {
            return post.Add(line) ? Row.Added : Row.WithoutKey;
        }
        catch (JsonException ex)
        {
            // The Api writes every row itself, so this came from elsewhere; it must not stop the sink.
            _logger.LogWarning(ex, "A row of {Key} is not a {Stream} row; it is not forwarded to FME", segment.Key, segment.Stream);
            Dropped(1, "unreadable", $"a row of {segment.Key} is not a {segment.Stream} row");
            return Row.Unreadable;
        }
    }

    /// <summary>The segment's NDJSON lines, without their newlines.</summary>
    private static async IAsyncEnumerable<byte[]> ReadLinesAsync(Stream content, [EnumeratorCancellation] CancellationToken cancellationToken)
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
