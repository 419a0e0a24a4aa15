using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Replay;

namespace TrackMulti.Api.Ingestion;

/// <summary><c>/api/replay</c>: deliver a window of what S3 holds to FME again, and follow how far it got.</summary>
public static class ReplayApi
{
    /// <summary>A replay's body is a few fields.</summary>
    private const long MaxBodyBytes = 16 * 1024;

    public static RouteGroupBuilder MapReplayApi(this IEndpointRouteBuilder app)
    {
        var options = app.ServiceProvider.GetRequiredService<IOptions<IngestionOptions>>().Value;
        var replay = app.MapGroup("/api").RequireAdminKey(options).WithTags("Operations");
        if (options.CorsOrigins.Length > 0)
        {
            replay.RequireCors(IngestionExtensions.CorsPolicy);
        }

        replay.MapPost("/replay", StartAsync).WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes))
            .Reads<ReplayRequestBody, RouteHandlerBuilder>("application/json")
            .Refuses(Rejections.UnsupportedMediaType, Rejections.MalformedJson, Rejections.BodyTooLarge, Rejections.InvalidReplay,
                Rejections.ReplaySinkOff, Rejections.EmptyReplayWindow, Rejections.FlushNotConfirmed, Rejections.S3Unavailable,
                Rejections.ShuttingDown, Rejections.SpoolError)
            .AddOpenApiOperationTransformer(DescribeLocationAsync)
            .WithSummary("Deliver every row received in [from, to) from S3 to FME again (at least once).");
        replay.MapGet("/replay", (ReplayService replays) => TypedResults.Ok(new ReplayList(replays.All())))
            .WithSummary("Every replay, newest first.");
        replay.MapGet("/replay/{id}", Find).Refuses(Rejections.UnknownReplay)
            .WithSummary("One replay: its state, the objects read so far and the events sent.");
        return replay;
    }

    public static async Task<Results<Accepted<ReplayStatus>, ProblemHttpResult, ValidationProblem>> StartAsync(
        HttpContext http, ReplayService replays, CancellationToken cancellationToken)
    {
        if (!http.Request.HasJsonContentType())
        {
            return Rejections.UnsupportedMediaType.Problem("Send the replay as JSON with 'Content-Type: application/json'.");
        }
        (ReplayRequest? Request, Dictionary<string, string[]>? Errors) read;
        try
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, cancellationToken);
            read = ReplayRequest.Read(body.GetBuffer().AsSpan(0, (int)body.Length));
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Rejections.BodyTooLarge.Problem($"A replay's body is at most {MaxBodyBytes} bytes.");
        }
        catch (System.Text.Json.JsonException ex)
        {
            return Rejections.MalformedJson.Problem($"The body is not JSON: {ex.Message}");
        }
        if (read.Errors is { } errors)
        {
            return InvalidReplay(errors);
        }

        var started = await replays.StartAsync(read.Request!, cancellationToken);
        return started switch
        {
            { Started: { } replay } => TypedResults.Accepted($"/api/replay/{replay.Id}", replay),
            { Errors: { } invalid } => InvalidReplay(invalid),
            _ => RejectionOf(started.Refusal).Problem(started.Detail!),
        };
    }

    public static Results<Ok<ReplayStatus>, ProblemHttpResult> Find(string id, ReplayService replays) =>
        replays.Find(id) is { } replay ? TypedResults.Ok(replay) : Rejections.UnknownReplay.Problem($"There is no replay '{id}'.");

    /// <summary>The 202 says where the replay is followed.</summary>
    private static Task DescribeLocationAsync(
        Microsoft.OpenApi.OpenApiOperation operation, Microsoft.AspNetCore.OpenApi.OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (operation.Responses?.TryGetValue("202", out var accepted) == true && accepted is Microsoft.OpenApi.OpenApiResponse response)
        {
            response.Headers ??= new Dictionary<string, Microsoft.OpenApi.IOpenApiHeader>();
            response.Headers["Location"] = new Microsoft.OpenApi.OpenApiHeader
            {
                Description = "The replay's own address: `/api/replay/{id}`.",
                Required = true,
                Schema = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.String },
            };
        }
        return Task.CompletedTask;
    }

    private static ValidationProblem InvalidReplay(Dictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, detail: "The replay cannot start as asked; see errors.",
            type: Rejections.InvalidReplay.Type, title: Rejections.InvalidReplay.Title);

    private static Rejection RejectionOf(ReplayRefusal refusal) => refusal switch
    {
        ReplayRefusal.SinkOff => Rejections.ReplaySinkOff,
        ReplayRefusal.EmptyWindow => Rejections.EmptyReplayWindow,
        ReplayRefusal.RecordBehind => Rejections.FlushNotConfirmed,
        ReplayRefusal.S3Unavailable => Rejections.S3Unavailable,
        ReplayRefusal.ShuttingDown => Rejections.ShuttingDown,
        ReplayRefusal.SpoolError => Rejections.SpoolError,
        _ => throw new ArgumentOutOfRangeException(nameof(refusal), refusal, "No refusal."),
    };
}

/// <summary><c>POST /api/replay</c>'s body, for the document (<see cref="ReplayRequest.Read"/> reads it).</summary>
public sealed record ReplayRequestBody(
    [property: System.ComponentModel.Description("Where to deliver again.")]
    string Sink,
    [property: System.ComponentModel.Description("The window's start (inclusive): an ISO-8601 time with its offset, by the rows' `receivedAt`.")]
    string From,
    [property: System.ComponentModel.Description("The window's end (exclusive), after `from` and not later than now.")]
    string To,
    [property: System.ComponentModel.Description("Whose rows; by default the streams the FME sink takes (FME_FORWARD).")]
    IReadOnlyList<string>? Streams = null);

public sealed record ReplayList(IReadOnlyList<ReplayStatus> Replays);
