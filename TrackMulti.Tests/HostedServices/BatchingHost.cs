using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TrackMulti.Api;
using TrackMulti.Api.Batching;
using TrackMulti.Api.Model;
using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Sinks.Fme;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Telemetry;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.HostedServices;

/// <summary>
/// The Api's pipeline without HTTP (batching, spool, sinks, replays) as the Api composes it (its
/// <c>AddEventPipeline</c>, real Polly pipelines, real files), with only the object store replaced by one that can fail
/// on demand. Can be restarted on the same spool.
/// </summary>
internal sealed class BatchingHost : IAsyncDisposable
{
    private readonly Dictionary<string, string?> _settings;
    private readonly TimeProvider _time;
    private IHost? _host;

    private readonly Action<IServiceCollection>? _configure;

    /// <param name="configure">Replaces services after the Api's own registrations (by default the store is replaced by <see cref="Store"/>).</param>
    public BatchingHost(Dictionary<string, string?>? settings = null, TimeProvider? time = null, Action<IServiceCollection>? configure = null)
    {
        _configure = configure;
        SpoolDirectory = TestPaths.NewTemporaryDirectory("spool");
        _settings = new Dictionary<string, string?>
        {
            ["BATCH_SIZE"] = "3",
            ["INSTANCE_ID"] = "unit",
            ["UPLOAD_RETRIES"] = "2",
            ["UPLOAD_RETRY_BASE_DELAY_MS"] = "1",
            ["UPLOAD_PAUSE_MAX_SECONDS"] = "1",
            ["SPOOL_DIR"] = SpoolDirectory,
        };
        foreach (var (key, value) in settings ?? [])
        {
            _settings[key] = value;
        }
        _time = time ?? TimeProvider.System;
    }

    /// <summary><c>SPOOL_DIR</c>, which replicas may share.</summary>
    public string SpoolDirectory { get; }

    /// <summary>This host's own spool folder in it (<c>INSTANCE_ID=unit</c>).</summary>
    public string InstanceSpool => Path.Combine(SpoolDirectory, "unit");
    public RecordingBatchStore Store { get; } = new();

    public IServiceProvider Services => _host!.Services;
    public BatchWriter Writer => Services.GetRequiredService<Batches>().Track;
    public Batches Batches => Services.GetRequiredService<Batches>();
    public S3Sink Uploads => Services.GetRequiredService<S3Sink>();
    public SpoolLog Spool => Services.GetRequiredService<SpoolLog>();

    public async Task<BatchingHost> StartAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = SpoolDirectory });
        builder.Configuration.AddInMemoryCollection(_settings);
        builder.Services.AddSingleton(_time);
        // Tests that stop while "S3" fails would otherwise wait out the default 30 s of upload attempts.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.AddTrackTelemetry();
        builder.AddEventPipeline();
        if (_configure is null)
        {
            builder.Services.AddSingleton<IObjectStore>(Store);
        }
        else
        {
            _configure(builder.Services);
        }
        var host = builder.Build();
        try
        {
            await host.StartAsync();
        }
        catch
        {
            host.Dispose(); // a host that never started cannot be stopped
            throw;
        }
        _host = host;
        return this;
    }

    public async Task StopAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync();
            _host.Dispose();
            _host = null;
        }
    }

    public static TrackEvent Event(int n, int padding = 0) => new()
    {
        TrafficType = "user",
        Name = "button_click",
        Key = $"user-{n}",
        Value = System.Text.Json.JsonSerializer.SerializeToElement(n),
        Properties = padding > 0 ? System.Text.Json.JsonSerializer.SerializeToElement(new { pad = new string('x', padding) }) : null,
        ReceivedAt = DateTimeOffset.UnixEpoch.AddSeconds(n),
    };

    public async Task<List<AppendResult>> AppendAsync(int count, int first = 1, int padding = 0)
    {
        var results = new List<AppendResult>();
        for (var n = first; n < first + count; n++)
        {
            results.Add(await Writer.AppendAsync(Event(n, padding).ToJsonLine(), CancellationToken.None));
        }
        return results;
    }

    /// <summary>The <c>value</c> of every stored event, objects in key order.</summary>
    public List<double?> StoredValues() =>
        [.. Store.Objects.OrderBy(o => o.Key, StringComparer.Ordinal)
            .SelectMany(o => System.Text.Encoding.UTF8.GetString(o.Value).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            .Select(line => TrackEvent.FromJsonLine(System.Text.Encoding.UTF8.GetBytes(line)).NumericValue)];

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(SpoolDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
