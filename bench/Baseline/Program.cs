// The yardstick for bench/run.sh: the same route and response shape as the Api's POST /api/track, doing nothing.
// Whatever the Api costs beyond this is parsing, validation, the spool's fsync and batching.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();

app.MapPost("/api/track", async (HttpRequest request) =>
{
    using var body = new MemoryStream();
    await request.Body.CopyToAsync(body);
    return Results.Ok(new { success = true, batchSize = 0, flushed = (object?)null });
});

app.Run();
