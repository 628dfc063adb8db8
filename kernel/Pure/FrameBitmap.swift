// FrameBitmap.swift — physical frame allocator: one bit per 4 KiB frame.
//
// Covers frames [0, frameCount); bit set = used (or not RAM). Starts all
// used; the kernel frees the usable RAM ranges of the memory map, then
// reserves what it occupies. The bitmap words live in storage the caller
// provides (a buffer on the host, physical RAM in the kernel), so it works
// over any address range. Nothing allocates.

public struct FrameBitmap {
    public static let frameSize: UInt64 = 4096
    public static let frameShift: UInt64 = 12

    public let frameCount: Int
    public private(set) var freeFrames: Int
    let words: UnsafeMutablePointer<UInt64>
    /// Lowest frame that may be free (search start for single frames).
    var hint: Int

    public static func wordCount(frames: Int) -> Int { (frames + 63) / 64 }

    /// `words` must hold `wordCount(frames:)` words; they are overwritten.
    public init(words: UnsafeMutablePointer<UInt64>, frameCount: Int) {
        self.words = words
        self.frameCount = frameCount
        self.freeFrames = 0
        self.hint = frameCount
        UnsafeMutableRawPointer(words).initializeMemory(
            as: UInt8.self, repeating: 0xFF, count: FrameBitmap.wordCount(frames: frameCount) * 8)
    }

    public var limit: UInt64 { UInt64(frameCount) << FrameBitmap.frameShift }

    public func isFree(frame: Int) -> Bool {
        guard frame >= 0 && frame < frameCount else { return false }
        return words[frame >> 6] & (1 &<< UInt64(frame & 63)) == 0
    }

    public func isFree(address: UInt64) -> Bool {
        isFree(frame: Int(truncatingIfNeeded: address >> FrameBitmap.frameShift))
    }

    /// Marks the whole frames inside [start, end) free (rounds inward).
    /// Returns how many frames changed state.
    @discardableResult
    public mutating func release(from start: UInt64, to end: UInt64) -> Int {
        let first = Int(truncatingIfNeeded: min((start &+ FrameBitmap.frameSize &- 1) >> FrameBitmap.frameShift, UInt64(frameCount)))
        let last = Int(truncatingIfNeeded: min(end >> FrameBitmap.frameShift, UInt64(frameCount)))
        guard last > first else { return 0 }
        let changed = setRange(first, last, used: false)
        freeFrames += changed
        if first < hint { hint = first }
        return changed
    }

    /// Like `release`, for a range known to be entirely used (the freshly
    /// initialised bitmap and disjoint memory-map ranges): the middle words
    /// are cleared with one memset and nothing is read back, so seeding a
    /// 16 GiB map costs almost nothing.
    @discardableResult
    public mutating func releaseUsedRange(from start: UInt64, to end: UInt64) -> Int {
        let first = Int(truncatingIfNeeded: min((start &+ FrameBitmap.frameSize &- 1) >> FrameBitmap.frameShift, UInt64(frameCount)))
        let last = Int(truncatingIfNeeded: min(end >> FrameBitmap.frameShift, UInt64(frameCount)))
        guard last > first else { return 0 }
        let headEnd = min(last, (first + 63) & ~63)
        var changed = setRange(first, headEnd, used: false)
        let middleEnd = max(headEnd, last & ~63)
        if middleEnd > headEnd {
            UnsafeMutableRawPointer(words + (headEnd >> 6))
                .initializeMemory(as: UInt8.self, repeating: 0, count: (middleEnd - headEnd) >> 3)
            changed += middleEnd - headEnd
        }
        if last > middleEnd { changed += setRange(middleEnd, last, used: false) }
        freeFrames += changed
        if first < hint { hint = first }
        return changed
    }

    /// Marks every frame touching [start, end) used (rounds outward).
    @discardableResult
    public mutating func reserve(from start: UInt64, to end: UInt64) -> Int {
        let first = Int(truncatingIfNeeded: min(start >> FrameBitmap.frameShift, UInt64(frameCount)))
        let last = Int(truncatingIfNeeded: min((end &+ FrameBitmap.frameSize &- 1) >> FrameBitmap.frameShift, UInt64(frameCount)))
        guard last > first else { return 0 }
        let changed = setRange(first, last, used: true)
        freeFrames -= changed
        return changed
    }

    /// One free frame's physical address, or nil when none is left.
    public mutating func allocate() -> UInt64? {
        var word = hint >> 6
        let wordsTotal = FrameBitmap.wordCount(frames: frameCount)
        while word < wordsTotal {
            let value = words[word]
            if value != UInt64.max {
                let bit = (~value).trailingZeroBitCount
                let frame = word &<< 6 | bit
                guard frame < frameCount else { break }
                words[word] = value | (1 &<< UInt64(bit))
                freeFrames &-= 1
                hint = frame &+ 1
                return UInt64(frame) &<< FrameBitmap.frameShift
            }
            word &+= 1
        }
        hint = frameCount
        return nil
    }

    /// `count` contiguous free frames whose first address is a multiple of
    /// `alignment` (a power of two ≥ 4096) within [minimum, maximum).
    public mutating func allocate(count: Int, alignment: UInt64 = frameSize,
                                  minimum: UInt64 = 0, maximum: UInt64 = UInt64.max) -> UInt64? {
        guard count > 0 else { return nil }
        let step = Int(truncatingIfNeeded: max(alignment, FrameBitmap.frameSize) >> FrameBitmap.frameShift)
        let top = Int(truncatingIfNeeded: min(maximum >> FrameBitmap.frameShift, UInt64(frameCount)))
        var candidate = Int(truncatingIfNeeded: min(minimum >> FrameBitmap.frameShift, UInt64(frameCount)))
        candidate = (candidate + step - 1) / step * step
        outer: while candidate + count <= top {
            // Skip whole used words quickly.
            if candidate & 63 == 0 && words[candidate >> 6] == UInt64.max {
                candidate = ((candidate + 64) + step - 1) / step * step
                continue
            }
            var frame = candidate
            while frame < candidate + count {
                if frame & 63 == 0 && candidate + count - frame >= 64 && words[frame >> 6] == 0 {
                    frame += 64  // a whole free word
                    continue
                }
                if !isFree(frame: frame) {
                    candidate = ((frame + 1) + step - 1) / step * step
                    continue outer
                }
                frame += 1
            }
            _ = setRange(candidate, candidate + count, used: true)
            freeFrames -= count
            return UInt64(candidate) << FrameBitmap.frameShift
        }
        return nil
    }

    /// Frees `count` frames at `address`. False (and nothing changes) if any
    /// of them is already free or outside the bitmap: a double free.
    public mutating func free(_ address: UInt64, count: Int = 1) -> Bool {
        guard address & (FrameBitmap.frameSize &- 1) == 0, count > 0 else { return false }
        let first = Int(truncatingIfNeeded: address >> FrameBitmap.frameShift)
        guard address >> FrameBitmap.frameShift < UInt64(frameCount), first &+ count <= frameCount else { return false }
        var frame = first
        while frame < first &+ count {
            if isFree(frame: frame) { return false }
            frame &+= 1
        }
        _ = setRange(first, first &+ count, used: false)
        freeFrames &+= count
        if first < hint { hint = first }
        return true
    }

    /// Sets frames [first, last) to `used`; returns how many changed.
    private mutating func setRange(_ first: Int, _ last: Int, used: Bool) -> Int {
        var changed = 0
        var frame = first
        while frame < last {
            let word = frame >> 6
            let bit = frame & 63
            let span = min(64 &- bit, last &- frame)
            let mask: UInt64 = span == 64 ? UInt64.max : ((1 &<< UInt64(span)) &- 1) &<< UInt64(bit)
            let old = words[word]
            let new = used ? old | mask : old & ~mask
            changed &+= (old ^ new).nonzeroBitCount
            words[word] = new
            frame &+= span
        }
        return changed
    }
}
