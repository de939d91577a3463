"""A visit of the R307 simulator by pyfingerprint, a third-party R30x client (PyPI), over the
simulator's pseudo-terminal. Prints one JSON object with what each call returned; the Rust
test `scanner_third_party.rs` checks it. Usage: pyfingerprint_visit.py PORT BAUD OUT_DIR
"""
import json
import os
import sys
import time

from pyfingerprint.pyfingerprint import PyFingerprint

port, baud, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
f = PyFingerprint(port, baud, 0xFFFFFFFF, 0x00000000)
r = {}


def error_of(call):
    """The exception text a call raises, or None when it returns."""
    try:
        call()
    except Exception as e:  # pyfingerprint raises bare Exceptions with a message
        return str(e)
    return None


def wait(present):
    for _ in range(200):
        if f.readImage() == present:
            return
        time.sleep(0.02)
    raise RuntimeError("the finger never came" if present else "the finger stayed")


r["verify_password"] = f.verifyPassword()
r["params"] = list(f.getSystemParameters())
r["capacity"] = f.getStorageCapacity()
r["count_before"] = f.getTemplateCount()

# Enroll a thumb: two placements merged (RegModel), stored at the first free slot that
# pyfingerprint finds with ReadIndexTable, and once more at slot 7.
wait(True)
f.convertImage(0x01)
wait(False)
wait(True)
f.convertImage(0x02)
r["compare_two_placements"] = f.compareCharacteristics()
r["create_template"] = f.createTemplate()
r["stored_first_free"] = f.storeTemplate()
r["stored_at_7"] = f.storeTemplate(7)
r["index_page_0"] = [i for i, used in enumerate(f.getTemplateIndex(0)) if used]
r["index_page_1"] = [i for i, used in enumerate(f.getTemplateIndex(1)) if used]
r["count_after_store"] = f.getTemplateCount()
wait(False)

# The same thumb again: found in the library; its image and template come up the line.
wait(True)
f.convertImage(0x01)
r["search_thumb"] = list(f.searchTemplate())
image_path = os.path.join(out_dir, "thumb.png")
f.downloadImage(image_path)
r["image_path"] = image_path
chars = f.downloadCharacteristics(0x01)
r["template_len"] = len(chars)
r["template_round_trip"] = f.uploadCharacteristics(0x02, chars)
r["load_7"] = f.loadTemplate(7, 0x02)
r["compare_loaded"] = f.compareCharacteristics()
r["load_empty_slot_error"] = error_of(lambda: f.loadTemplate(5, 0x02))
wait(False)

# A stranger's finger is not in the library; a blank placement has no features.
wait(True)
f.convertImage(0x01)
r["search_stranger"] = list(f.searchTemplate())
wait(False)
wait(True)
r["blank_convert_error"] = error_of(lambda: f.convertImage(0x01))

r["random"] = [f.generateRandomNumber() for _ in range(3)]
f.setSecurityLevel(4)
r["security_level"] = f.getSecurityLevel()
f.setMaxPacketSize(64)
r["packet_size"] = f.getMaxPacketSize()
# A baud change is stored now and used from the next power-up: the line stays as it is.
f.setBaudRate(57600)
r["stored_baud"] = f.getBaudRate()
r["delete_7"] = f.deleteTemplate(7)
r["count_after_delete"] = f.getTemplateCount()
r["clear"] = f.clearDatabase()
r["count_after_clear"] = f.getTemplateCount()

# A password set in flash: a client with the old one is refused, the new one is accepted.
r["set_password"] = f.setPassword(0x00C0FFEE)
del f
r["verify_old_password"] = PyFingerprint(port, baud, 0xFFFFFFFF, 0).verifyPassword()
f = PyFingerprint(port, baud, 0xFFFFFFFF, 0x00C0FFEE)
r["verify_new_password"] = f.verifyPassword()
r["set_address"] = f.setAddress(0x12345678)
r["count_at_new_address"] = f.getTemplateCount()
r["params_at_new_address"] = list(f.getSystemParameters())

print(json.dumps(r))
