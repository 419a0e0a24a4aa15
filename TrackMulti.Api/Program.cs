using TrackMulti.Api.Batching;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Storage;
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
builder.AddTrackTelemetry();
builder.AddBatchStorage();
builder.AddBatching();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseCors();
app.UseRateLimiter();
app.MapDefaultEndpoints();
app.MapServiceInfo();
app.MapTrackApi();

app.Run();
