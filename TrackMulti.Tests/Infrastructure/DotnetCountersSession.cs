using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace TrackMulti.Tests.Infrastructure;

/// <summary>
/// What <c>dotnet-counters monitor|collect --counters METER</c> sees, in-process: a session of the runtime's
/// <c>System.Diagnostics.Metrics</c> EventSource with the arguments the tool passes (its TimeSeriesValues keyword,
/// <c>Metrics</c>, <c>RefreshInterval</c>, <c>MaxTimeSeries</c>, <c>MaxHistograms</c> at the tool's defaults), read as
/// the tool reads it: an instrument is shown once a value arrives for it (a histogram only with quantiles, as an
/// interval without samples shows nothing). The EventSource aggregates every meter of that name in the process.
/// </summary>
internal sealed class DotnetCountersSession : EventListener
{
    public const string SourceName = "System.Diagnostics.Metrics";

    private static readonly string[] ValueEvents =
        ["CounterRateValuePublished", "UpDownCounterRateValuePublished", "GaugeValuePublished", "HistogramValuePublished"];

    private readonly string _sessionId = Guid.NewGuid().ToString();
    private readonly ConcurrentDictionary<string, byte> _published = new();
    private readonly ConcurrentDictionary<string, byte> _shown = new();
    private readonly ConcurrentQueue<string> _problems = new();
    private readonly TaskCompletionSource _firstCollection = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // Field initializers run before the base constructor, which reports the sources that exist already: those wait
    // here until the constructor has the session's arguments.
    private readonly List<EventSource> _early = [];
    private readonly string _meter = "";
    private bool _ready;

    public DotnetCountersSession(string meter, int maxHistograms = 10, int maxTimeSeries = 1000)
    {
        _meter = meter;
        MaxHistograms = maxHistograms;
        MaxTimeSeries = maxTimeSeries;
        lock (_early)
        {
            _ready = true;
            _early.ForEach(Enable);
        }
    }

    public int MaxHistograms { get; }
    public int MaxTimeSeries { get; }

    /// <summary>Instruments of the meter the session reports on (its BeginInstrumentReporting events).</summary>
    public IReadOnlyCollection<string> Published => [.. _published.Keys];

    /// <summary>Instruments the tool would show: at least one value arrived.</summary>
    public IReadOnlyCollection<string> Shown => [.. _shown.Keys];

    /// <summary>What the tool would warn about: limits reached, errors, a refused session.</summary>
    public IReadOnlyCollection<string> Problems => [.. _problems];

    /// <summary>Done once the session has collected one interval: measurements from then on are aggregated.</summary>
    public Task Started => _firstCollection.Task;

    /// <summary>
    /// Waits until every one of <paramref name="instruments"/> has been shown, and returns what is shown; once
    /// <paramref name="timeout"/> passes, fails naming those never shown and the problems the tool would warn about.
    /// </summary>
    public async Task<IReadOnlyCollection<string>> WaitForAsync(IEnumerable<string> instruments, TimeSpan timeout)
    {
        var wanted = instruments.ToList();
        await Poll.UntilAsync(
            () => Task.FromResult(wanted.Where(instrument => !_shown.ContainsKey(instrument)).ToList()),
            missing => missing.Count == 0,
            missing => $"dotnet-counters never showed {string.Join(", ", missing)} (problems: {string.Join("; ", Problems)})",
            timeout, every: TimeSpan.FromMilliseconds(100));
        return Shown;
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name != SourceName)
        {
            return;
        }
        lock (_early)
        {
            if (!_ready)
            {
                _early.Add(eventSource);
                return;
            }
        }
        Enable(eventSource);
    }

    private void Enable(EventSource source) =>
        EnableEvents(source, EventLevel.Informational, (EventKeywords)0x2, new Dictionary<string, string?>
        {
            ["SessionId"] = _sessionId,
            ["Metrics"] = _meter,
            ["RefreshInterval"] = "1",
            ["MaxTimeSeries"] = MaxTimeSeries.ToString(),
            ["MaxHistograms"] = MaxHistograms.ToString(),
        });

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName is null || e.Payload is null || e.PayloadNames is null)
        {
            return;
        }
        var payload = e.PayloadNames.Zip(e.Payload).ToDictionary(p => p.First, p => p.Second?.ToString() ?? "");
        if (payload.GetValueOrDefault("sessionId") is { } session && session != _sessionId)
        {
            return;
        }
        switch (e.EventName)
        {
            case "CollectionStop":
                _firstCollection.TrySetResult();
                break;
            case "BeginInstrumentReporting" when payload.GetValueOrDefault("meterName") == _meter:
                _published.TryAdd(payload["instrumentName"], 0);
                break;
            case var name when ValueEvents.Contains(name) && payload.GetValueOrDefault("meterName") == _meter:
                if (name != "HistogramValuePublished" || payload.GetValueOrDefault("quantiles") is { Length: > 0 })
                {
                    _shown.TryAdd(payload["instrumentName"], 0);
                }
                break;
            case "HistogramLimitReached" or "TimeSeriesLimitReached" or "Error" or "ObservableInstrumentCallbackError"
                or "MultipleSessionsNotSupportedError" or "MultipleSessionsConfiguredIncorrectlyError":
                _problems.Enqueue($"{e.EventName}: {string.Join(", ", payload.Select(p => $"{p.Key}={p.Value}"))}");
                break;
        }
    }
}
