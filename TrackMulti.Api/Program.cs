using TrackMulti.Api;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Replay;
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
builder.AddTrackTelemetry();
builder.AddIngestion();
builder.AddApiDocument();
builder.AddReplayApi();
builder.AddEventPipeline();

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
