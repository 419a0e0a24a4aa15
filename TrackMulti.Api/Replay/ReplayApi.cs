using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Replay;

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
        catch (JsonException ex)
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

    /// <summary>Its answers serialized by generated code, its shapes stated in the Api's document.</summary>
    public static IHostApplicationBuilder AddReplayApi(this IHostApplicationBuilder builder)
    {
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, ReplayAnswersJsonContext.Default));
        builder.Services.Configure<OpenApiOptions>(ApiDocument.Name, document => document.AddSchemaTransformer(DescribeShapesAsync));
        return builder;
    }

    /// <summary>The 202 says where the replay is followed.</summary>
    private static Task DescribeLocationAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (operation.Responses?.TryGetValue("202", out var accepted) == true && accepted is OpenApiResponse response)
        {
            response.Headers ??= new Dictionary<string, IOpenApiHeader>();
            response.Headers["Location"] = new OpenApiHeader
            {
                Description = "The replay's own address: `/api/replay/{id}`.",
                Required = true,
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            };
        }
        return Task.CompletedTask;
    }

    /// <summary>The body as <see cref="ReplayRequest.Read"/> takes it, and the states and streams a status names.</summary>
    private static Task DescribeShapesAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var type = context.JsonTypeInfo.Type;
        if (type == typeof(ReplayRequestBody))
        {
            DescribeRequest(schema);
        }
        else if (type == typeof(ReplayStatus))
        {
            if (schema.Properties?.TryGetValue("state", out var state) == true && state is OpenApiSchema states)
            {
                states.Enum = [.. new[] { ReplayStates.Running, ReplayStates.Done, ReplayStates.Failed }.Select(name => (JsonNode)JsonValue.Create(name))];
            }
            if (schema.Properties?.TryGetValue("streams", out var streams) == true && streams is OpenApiSchema { Items: OpenApiSchema names })
            {
                names.Enum = [.. Streams.All.Select(stream => (JsonNode)JsonValue.Create(stream))];
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>That <c>from</c> is before <c>to</c> is the reader's alone: JSON Schema cannot say it.</summary>
    private static void DescribeRequest(OpenApiSchema schema)
    {
        var fields = schema.Properties ??= new Dictionary<string, IOpenApiSchema>();
        string? DescriptionOf(string field) => fields.TryGetValue(field, out var found) ? found.Description : null;
        fields[ReplayRequest.SinkField] = new OpenApiSchema
        {
            Type = JsonSchemaType.String,
            Enum = [.. ReplayService.Sinks.Select(sink => (JsonNode)JsonValue.Create(sink))],
            Description = DescriptionOf(ReplayRequest.SinkField),
        };
        foreach (var field in new[] { ReplayRequest.FromField, ReplayRequest.ToField })
        {
            fields[field] = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Format = "date-time",
                Pattern = ApiDocument.Ecma(ReplayRequest.TimePatternText),
                Description = DescriptionOf(field),
            };
        }
        fields[ReplayRequest.StreamsField] = new OpenApiSchema
        {
            Type = JsonSchemaType.Array,
            MinItems = 1,
            Items = new OpenApiSchema { Type = JsonSchemaType.String, Enum = [.. Streams.All.Select(stream => (JsonNode)JsonValue.Create(stream))] },
            Description = DescriptionOf(ReplayRequest.StreamsField),
        };
        schema.Required = new HashSet<string> { ReplayRequest.SinkField, ReplayRequest.FromField, ReplayRequest.ToField };
        schema.AdditionalPropertiesAllowed = false;
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

/// <summary>A replay's answers, serialized by generated code (camelCase, as ASP.NET Core's defaults); its file on disk has a context of its own.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ReplayStatus))]
[JsonSerializable(typeof(ReplayList))]
internal sealed partial class ReplayAnswersJsonContext : JsonSerializerContext;
