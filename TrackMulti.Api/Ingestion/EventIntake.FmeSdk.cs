using System.Buffers;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Ingestion;

/// <summary>The FME SDK's own posts (<c>/fme/api</c>): the same checks, limits and durable append as a batch.</summary>
public sealed partial class EventIntake
{
    /// <summary>The content types a beacon may have (the SDK sends <c>text/plain</c>).</summary>
    public static readonly string[] BeaconTypes = ["text/plain", "application/json"];

    /// <summary>Reads one kind of post (<see cref="FmeSdkReader"/>): body, is it a beacon, when it arrived.</summary>
    public delegate FmeSdkReadResult SdkReader(ReadOnlySequence<byte> body, bool beacon, DateTimeOffset receivedAt);

    /// <summary>
    /// One post of the SDK: its key must be the configured FME key (the <c>Authorization</c> header, or a beacon's
    /// <c>token</c>), so the Api never relays another FME environment's traffic; then all its entries are stored
    /// together in <paramref name="stream"/>, or none.
    /// </summary>
    public async Task<IntakeResult> FmeSdkAsync(HttpContext http, string stream, SdkReader reader, bool beacon)
    {
        var contentType = http.Request.ContentType?.Split(';')[0].Trim();
        if (beacon ? !BeaconTypes.Contains(contentType, StringComparer.OrdinalIgnoreCase) : !http.Request.HasJsonContentType())
        {
            return Refuse(Rejections.UnsupportedMediaType, beacon
                ? "Send the beacon as the FME SDK does, with 'Content-Type: text/plain' (or application/json)."
                : "Send the post as JSON with 'Content-Type: application/json'.");
        }
        var bearer = ApiKeys.Bearer(http.Request);
        if (!beacon && CheckSdkKey(bearer) is { } unauthorized)
        {
            return unauthorized;
        }

        var (read, receivedAt, refused) = await ReadAsync(http.Request, (reader, beacon),
            static (content, state, at) => state.reader(content, state.beacon, at));
        if (refused is not null)
        {
            return refused;
        }
        if (beacon && CheckSdkKey(bearer ?? read!.Token) is { } wrongToken)
        {
            return wrongToken;
        }
        return await AdmitAndStoreAsync(http, stream, read!.Read, receivedAt);
    }

    private IntakeResult? CheckSdkKey(string? presented)
    {
        if (ingestion.Value.FmeSdkKeys is not { Count: > 0 } keys)
        {
            return Refuse(Rejections.FmeSdkOff,
                "This TrackMulti has no FME SDK key configured (HARNESS_FME_API_KEY or HARNESS_FME_SERVER_KEY), so it takes no FME SDK posts.");
        }
        if (presented is null)
        {
            return Refuse(Rejections.MissingSdkKey, "Send the FME SDK key as 'Authorization: Bearer <key>' (a beacon: in 'token').");
        }
        return keys.Any(key => ApiKeys.Matches(presented, key)) ? null
            : Refuse(Rejections.WrongSdkKey, "The key sent is not this TrackMulti's FME SDK key; posts for other FME environments are not relayed.");
    }
}
