using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// A loopback stand-in for Harness FME's events API (no machine here reaches FME): it records every post (path,
/// headers, body) and answers 200, or what the test asks for (<see cref="Answer"/>, <see cref="Delay"/>).
/// Point the Api at it with <c>FME_EVENTS_URL</c> = <see cref="EventsUrl"/>. It also serves FME's SDK API
/// (<see cref="SdkUrl"/>: <c>splitChanges</c> with one flag, <see cref="FlagName"/>, that is <c>on</c> for everyone, and
/// <c>memberships</c>), which makes the real browser SDK ready (the shapes are in the shared FME SDK notes).
/// </summary>
internal sealed class FmeStandIn : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FmeStandIn(WebApplication app, int port)
    {
        _app = app;
        EventsUrl = $"http://127.0.0.1:{port}/api";
        SdkUrl = $"http://127.0.0.1:{port}/sdk";
    }

    public const string FlagName = "trackmulti_demo";

    public string EventsUrl { get; }

    public string SdkUrl { get; }

    /// <summary>Posts to one of the events API's paths (<c>/events/bulk</c>, <c>/testImpressions/bulk</c>, …).</summary>
    public IReadOnlyList<FmePost> PostsTo(string path) => [.. Posts.Where(p => p.Path == path)];

    public ConcurrentQueue<FmePost> Posts { get; } = new();

    /// <summary>Posts answered other than 200 (recorded in <see cref="Posts"/> too).</summary>
    public int Refused => Posts.Count(p => p.Answered != HttpStatusCode.OK);

    /// <summary>What every post is answered with while set (for example 500 or 429); 200 when null.</summary>
    public HttpStatusCode? Answer { get; set; }

    /// <summary>How long each answer waits.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Events in the <c>/events/bulk</c> posts answered 200, in the order they arrived.</summary>
    public List<JsonObject> AcceptedEvents() =>
        [.. Posts.Where(p => p.Path == "/events/bulk" && p.Answered == HttpStatusCode.OK).SelectMany(p => p.Events())];

    public static async Task<FmeStandIn> StartAsync()
    {
        var port = ChildProcess.FreeTcpPort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var standIn = new FmeStandIn(app, port);
        // The page's SDK calls this from the Web's origin: answer CORS as FME's hosts do.
        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.AccessControlAllowOrigin = "*";
            headers.AccessControlAllowMethods = "GET, POST";
            headers.AccessControlAllowHeaders = context.Request.Headers.AccessControlRequestHeaders.ToString() is { Length: > 0 } asked ? asked : "*";
            if (HttpMethods.IsOptions(context.Request.Method))
            {
                context.Response.StatusCode = StatusCodes.Status204NoContent;
                return;
            }
            await next(context);
        });
        app.MapPost("/api/{**path}", async (HttpContext context, string path) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            if (standIn.Delay > TimeSpan.Zero)
            {
                await Task.Delay(standIn.Delay);
            }
            var answer = standIn.Answer ?? HttpStatusCode.OK;
            standIn.Posts.Enqueue(new FmePost(
                "/" + path, context.Request.Headers.Authorization.ToString(), context.Request.ContentType, body, answer));
            context.Response.StatusCode = (int)answer;
            if (answer == HttpStatusCode.TooManyRequests)
            {
                context.Response.Headers.RetryAfter = "1";
            }
        });
        app.MapGet("/sdk/splitChanges", (long since) => Results.Text(since == -1
            ? $$$"""{"ff":{"d":[{{{Flag}}}],"s":-1,"t":5},"rbs":{"d":[],"s":-1,"t":-1}}"""
            : """{"ff":{"d":[],"s":5,"t":5},"rbs":{"d":[],"s":-1,"t":-1}}""", "application/json"));
        app.MapGet("/sdk/memberships/{key}", () => Results.Text("""{"ms":{"k":[]},"ls":{"k":[]}}""", "application/json"));
        app.MapPost("/sdk/{**path}", () => Results.Ok()); // the SDK's telemetry
        await app.StartAsync();
        return standIn;
    }

    private const string Flag = $$$"""{"trafficTypeName":"user","name":"{{{FlagName}}}","status":"ACTIVE","killed":false,"defaultTreatment":"off","changeNumber":5,"algo":2,"seed":123,"trafficAllocation":100,"trafficAllocationSeed":1,"configurations":{},"sets":[],"impressionsDisabled":false,"conditions":[{"conditionType":"ROLLOUT","matcherGroup":{"combiner":"AND","matchers":[{"matcherType":"ALL_KEYS","negate":false,"keySelector":{"trafficType":"user","attribute":null}}]},"partitions":[{"treatment":"on","size":100},{"treatment":"off","size":0}],"label":"default rule"}]}""";

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One post as the stand-in received it.</summary>
internal sealed record FmePost(string Path, string Authorization, string? ContentType, string Body, HttpStatusCode Answered)
{
    public IReadOnlyList<JsonObject> Events() =>
        [.. Assert.IsType<JsonArray>(JsonNode.Parse(Body)).Select(e => Assert.IsType<JsonObject>(e))];

    /// <summary>A <c>testImpressions/bulk</c> post's impressions, each with its flag (<c>f</c>) added.</summary>
    public IReadOnlyList<JsonObject> Impressions() =>
        [.. Events().SelectMany(group => group["i"]!.AsArray().Select(i =>
        {
            var impression = Assert.IsType<JsonObject>(i!.DeepClone());
            impression["f"] = group["f"]!.GetValue<string>();
            return impression;
        }))];

    /// <summary>A <c>testImpressions/count</c> post's counts (<c>pf</c>).</summary>
    public IReadOnlyList<JsonObject> Counts() =>
        [.. Assert.IsType<JsonObject>(JsonNode.Parse(Body))["pf"]!.AsArray().Select(c => Assert.IsType<JsonObject>(c))];
}
