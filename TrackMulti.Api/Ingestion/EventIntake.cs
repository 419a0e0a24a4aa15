using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;
using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// What <c>POST /api/track</c> and <c>POST /api/batch</c> do behind their handlers: admit the client, read and check
/// the events, store them durably in one append, and say so; or refuse with one of <see cref="Rejections"/>, having
/// stored nothing. A request's own token is not observed: a body that has arrived is stored even when its sender has
/// left meanwhile (a page closing with its last beacons); one that sends again, not knowing, is a duplicate
/// (at-least-once).
/// </summary>
public sealed partial class EventIntake(
    IEventPipeline pipeline, ClientRateLimiter limiter, IBackPressure backPressure, IOptions<IngestionOptions> ingestion,
    TrackMetrics metrics, TimeProvider time)
{
    /// <summary>The content types <c>POST /api/batch</c> reads as NDJSON (one event a line).</summary>
    public static readonly string[] NdjsonTypes = ["application/x-ndjson", "application/ndjson"];

    /// <summary>Refusals of reading a body: Kestrel's limits (<see cref="ReadBodyAsync"/>), then the parser.</summary>
    private static readonly Rejection[] ReadingRefusals =
        [Rejections.BodyTooLarge, Rejections.BadRequest, Rejections.MalformedJson, Rejections.InvalidEvent];

    /// <summary>Refusals of storing events (<see cref="StoreAsync"/>).</summary>
    private static readonly Rejection[] StoringRefusals = [Rejections.ShuttingDown, Rejections.SpoolFull, Rejections.SpoolError];

    /// <summary>Every refusal <see cref="TrackAsync"/> can answer with (its endpoint documents them).</summary>
    public static readonly IReadOnlyList<Rejection> TrackRefusals =
        [Rejections.UnsupportedMediaType, Rejections.RateLimited, .. ReadingRefusals, .. StoringRefusals];

    /// <summary>Every refusal <see cref="AdmitAndStoreAsync"/> can answer with, after a body was read.</summary>
    private static readonly Rejection[] ManyEventsRefusals =
        [.. ReadingRefusals, Rejections.EmptyBatch, Rejections.TooManyEvents, Rejections.RateLimited, .. StoringRefusals];

    /// <summary>Every refusal <see cref="BatchAsync"/> can answer with.</summary>
    public static readonly IReadOnlyList<Rejection> BatchRefusals = [Rejections.UnsupportedMediaType, .. ManyEventsRefusals];

    /// <summary>Every refusal <see cref="FmeSdkAsync"/> can answer with.</summary>
    public static readonly IReadOnlyList<Rejection> FmeSdkRefusals =
        [Rejections.UnsupportedMediaType, Rejections.FmeSdkOff, Rejections.MissingSdkKey, Rejections.WrongSdkKey, .. ManyEventsRefusals];

    /// <summary>One event, as a JSON object.</summary>
    public async Task<IntakeResult> TrackAsync(HttpContext http)
    {
        if (!http.Request.HasJsonContentType())
        {
            return Refuse(Rejections.UnsupportedMediaType, "Send the event as JSON with 'Content-Type: application/json'.");
        }
        if (limiter.TryAdmit(http, 1) is { } wait)
        {
            return RateLimited(wait, 1);
        }

        var (read, receivedAt, refused) = await ReadAsync(http.Request, 0, static (content, _, at) => TrackEventReader.Read(content, at));
        if (refused is not null)
        {
            return refused;
        }
        return read switch
        {
            { MalformedReason: { } reason } => Refuse(Rejections.MalformedJson, reason),
            { FieldErrors: { } errors } => Refuse(Rejections.InvalidEvent, "The event is not valid.", errors: errors),
            _ => await StoreAsync(Streams.Track, [read!.Line!], receivedAt),
        };
    }

    /// <summary>Many events, as a JSON array or NDJSON: all stored together, or none.</summary>
    public async Task<IntakeResult> BatchAsync(HttpContext http)
    {
        var ndjson = NdjsonTypes.Contains(http.Request.ContentType?.Split(';')[0].Trim(), StringComparer.OrdinalIgnoreCase);
        if (!ndjson && !http.Request.HasJsonContentType())
        {
            return Refuse(Rejections.UnsupportedMediaType,
                "Send the events as a JSON array ('Content-Type: application/json') or NDJSON ('Content-Type: application/x-ndjson').");
        }

        var (read, receivedAt, refused) = await ReadAsync(http.Request, (ndjson, ingestion.Value.MaxBatchEvents),
            static (content, state, at) => TrackEventReader.ReadBatch(content, state.ndjson, at, state.MaxBatchEvents));
        if (refused is not null)
        {
            return refused;
        }
        return await AdmitAndStoreAsync(http, Streams.Track, read!, receivedAt);
    }

    /// <summary>A batch read without fault: refused if invalid or over the client's limit, else stored in one append.</summary>
    private async Task<IntakeResult> AdmitAndStoreAsync(
        HttpContext http, string stream, BatchReadResult read, DateTimeOffset receivedAt)
    {
        if (read.MalformedReason is { } reason)
        {
            return Refuse(Rejections.MalformedJson, reason);
        }
        if (read.EmptyReason is { } empty)
        {
            return Refuse(Rejections.EmptyBatch, empty);
        }
        if (read.TooManyEvents is { } count)
        {
            return Refuse(Rejections.TooManyEvents, $"The batch holds {count} events; at most {ingestion.Value.MaxBatchEvents} are allowed per request.", count);
        }
        if (read.FieldErrors is { } errors)
        {
            var invalid = errors.Keys.Select(k => k[..(k.IndexOf(']') + 1)]).Distinct().Count();
            return Refuse(Rejections.InvalidEvent, $"{invalid} of the batch's entries are not valid; none was stored.", errors: errors);
        }

        var lines = read.Lines!;
        if (limiter.Burst is { } burst && lines.Count > burst)
        {
            return Refuse(Rejections.TooManyEvents,
                $"The batch holds {lines.Count} events; a client may send at most {burst} at once (RATE_LIMIT_BURST).", lines.Count);
        }
        if (limiter.TryAdmit(http, lines.Count) is { } wait)
        {
            return RateLimited(wait, lines.Count);
        }
        return await StoreAsync(stream, lines, receivedAt);
    }

    /// <param name="receivedAt">The rows' <c>receivedAt</c>: their batch is in its partition.</param>
    private async Task<IntakeResult> StoreAsync(string stream, IReadOnlyList<byte[]> lines, DateTimeOffset receivedAt)
    {
        try
        {
            var stored = await pipeline.AppendAsync(stream, lines, receivedAt, System.Diagnostics.Activity.Current?.Context ?? default);
            metrics.Accepted(lines.Count);
            return new IntakeResult(stored, lines.Count, null);
        }
        catch (IntakeClosedException ex)
        {
            return Refuse(Rejections.ShuttingDown, ex.Message, lines.Count);
        }
        catch (SpoolFullException ex)
        {
            // Backpressure: S3 is behind and the spool is at its bound. Come back after the S3 sink's next round.
            return Refuse(Rejections.SpoolFull, ex.Message, lines.Count, backPressure.RetryAfterFull());
        }
        catch (SpoolWriteException ex)
        {
            return Refuse(Rejections.SpoolError, ex.Message, lines.Count);
        }
    }

    private IntakeResult RateLimited(TimeSpan wait, int events) =>
        Refuse(Rejections.RateLimited, "This client sends faster than the Api accepts; retry after the time in Retry-After.", events, wait);

    private IntakeResult Refuse(
        Rejection rejection, string detail, int events = 1, TimeSpan? retryAfter = null, IReadOnlyDictionary<string, string[]>? errors = null)
    {
        metrics.Rejected(rejection.Reason!, events);
        return new IntakeResult(null, 0, new Refusal(rejection, detail, errors, retryAfter));
    }

    /// <summary>
    /// Reads the whole body and parses it where it lies, then lets it go; or Kestrel's refusal (size, rate). The rows
    /// are received once the whole body is in (<c>receivedAt</c>), so a slow body cannot join a batch opened after it
    /// with a time before that batch's key, and a replay finds every row by its key's time.
    /// </summary>
    private async Task<(T? Read, DateTimeOffset ReceivedAt, IntakeResult? Refusal)> ReadAsync<TState, T>(
        HttpRequest request, TState state, Func<ReadOnlySequence<byte>, TState, DateTimeOffset, T> parse) where T : class
    {
        var body = await ReadBodyAsync(request);
        if (body.Refusal is { } refused)
        {
            return (null, default, refused);
        }
        var receivedAt = time.GetUtcNow();
        try
        {
            return (parse(body.Content, state, receivedAt), receivedAt, null);
        }
        finally
        {
            body.Release();
        }
    }

    /// <summary>The whole body (at most the endpoint's size limit, which Kestrel enforces), straight from the request pipe.</summary>
    private async Task<Body> ReadBodyAsync(HttpRequest request)
    {
        try
        {
            var read = await request.BodyReader.ReadAtLeastAsync(int.MaxValue);
            return new Body(request.BodyReader, read.Buffer, null);
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's own limits (body size: 413, a client that stalls: 408) surface here; say so, don't 500.
            var rejection = ex.StatusCode == StatusCodes.Status413PayloadTooLarge ? Rejections.BodyTooLarge
                : Rejections.BadRequest with { Status = ex.StatusCode };
            return new Body(request.BodyReader, default, Refuse(rejection, ex.Message));
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The sender reset the connection before its body had arrived: nobody hears the answer, nothing is stored.
            return new Body(request.BodyReader, default, Refuse(Rejections.BadRequest, "The connection ended before the body arrived."));
        }
    }

    private readonly record struct Body(PipeReader Reader, ReadOnlySequence<byte> Content, IntakeResult? Refusal)
    {
        public void Release() => Reader.AdvanceTo(Content.End);
    }
}

/// <param name="Stored">What the append did, when the events were stored.</param>
/// <param name="Events">How many events were stored.</param>
public sealed record IntakeResult(AppendResult? Stored, int Events, Refusal? Refusal);

/// <summary>Why nothing was stored: one of <see cref="Rejections"/>, its detail, per-field errors, and when to retry.</summary>
public sealed record Refusal(Rejection Rejection, string Detail, IReadOnlyDictionary<string, string[]>? Errors = null, TimeSpan? RetryAfter = null)
{
    public ProblemHttpResult Problem(HttpResponse response)
    {
        SetHeaders(response);
        return Rejection.Problem(Detail);
    }

    /// <summary>Problem details with <c>errors</c> by field (<see cref="Errors"/> is set).</summary>
    public ValidationProblem Validation(HttpResponse response)
    {
        SetHeaders(response);
        return TypedResults.ValidationProblem(Errors!, detail: Detail, type: Rejection.Type, title: Rejection.Title);
    }

    private void SetHeaders(HttpResponse response)
    {
        if (Rejection.Status == StatusCodes.Status401Unauthorized)
        {
            response.Headers.WWWAuthenticate = "Bearer";
        }
        if (RetryAfter is { } wait)
        {
            response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }
    }
}
