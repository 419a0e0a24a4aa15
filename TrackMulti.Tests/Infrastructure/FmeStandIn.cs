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
/// Point the Api at it with <c>FME_EVENTS_URL</c> = <see cref="EventsUrl"/>.
/// </summary>
internal sealed class FmeStandIn : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FmeStandIn(WebApplication app, int port)
    {
        _app = app;
        EventsUrl = $"http://127.0.0.1:{port}/api";
    }

    public string EventsUrl { get; }

    public ConcurrentQueue<FmePost> Posts { get; } = new();

    /// <summary>Posts answered other than 200 (recorded in <see cref="Posts"/> too).</summary>
    public int Refused => Posts.Count(p => p.Answered != HttpStatusCode.OK);

    /// <summary>What every post is answered with while set (for example 500 or 429); 200 when null.</summary>
    public HttpStatusCode? Answer { get; set; }

    /// <summary>How long each answer waits.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>Events in the posts answered 200, in the order they arrived.</summary>
    public List<JsonObject> AcceptedEvents() =>
        [.. Posts.Where(p => p.Answered == HttpStatusCode.OK).SelectMany(p => p.Events())];

    public static async Task<FmeStandIn> StartAsync()
    {
        var port = ChildProcess.FreeTcpPort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var standIn = new FmeStandIn(app, port);
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
        await app.StartAsync();
        return standIn;
    }

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
}
