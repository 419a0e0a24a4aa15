using TrackMulti.Api.Batching;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Replay;
using TrackMulti.Api.Sinks.Fme;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Telemetry;

var builder = WebApplication.CreateBuilder(args);

// Like the seed: PORT, when set, decides where the Api listens.
if (builder.Configuration["PORT"] is { Length: > 0 } port)
{
    builder.WebHost.UseUrls($"http://*:{port}");
}

builder.AddServiceDefaults(TelemetryExtensions.Sources);
builder.Services.AddProblemDetails();
builder.Services.AddSingleton(TimeProvider.System);
builder.AddIngestion();
builder.AddApiDocument();
builder.AddTrackTelemetry();
// Hosted services start in this order and stop in reverse: the spool recovers first; on shutdown the batch writer
// seals its last batch, then S3 (the record) delivers what is left, then FME, then the spool closes. Replays stop
// before all of them.
builder.AddSpool();
builder.AddFmeSink();
builder.AddS3Sink();
builder.AddBatching();
builder.AddReplay();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseCors();
app.MapDefaultEndpoints();
app.MapServiceInfo();
app.MapApiDocument();
app.MapTrackApi();
app.MapFmeSdkApi();
app.MapReplayApi();

app.Run();
